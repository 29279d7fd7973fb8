//! What a livelesson's endpoints are, derived once from its lesson and the backend's
//! settings: their order, ports, presentations and host names, and the jupyter guide's.

use std::collections::BTreeMap;

use crate::backend::Settings;
use crate::curriculum::names::{self, JUPYTER_ENDPOINT};
use crate::curriculum::{Image, Lesson};
use crate::store::livelesson::{LiveEndpoint, LivePresentation};

/// The jupyter guide's host for a livelesson.
pub fn jupyter_domain(settings: &Settings, id: &str) -> String {
    let namespace = names::namespace(&settings.instance_id, id);
    format!(
        "{}.{}",
        names::ingress_host_label(&namespace, JUPYTER_ENDPOINT, names::JUPYTER_PRESENTATION),
        settings.heps_domain
    )
}

/// The live endpoints of a new livelesson, in provisioning order (the jupyter guide last).
pub fn live_endpoints(settings: &Settings, lesson: &Lesson, id: &str) -> Vec<LiveEndpoint> {
    let namespace = names::namespace(&settings.instance_id, id);
    let mut endpoints: Vec<LiveEndpoint> = lesson
        .endpoints
        .iter()
        .enumerate()
        .map(|(position, endpoint)| LiveEndpoint {
            name: endpoint.name.clone(),
            position: i32::try_from(position).unwrap_or(i32::MAX),
            image: endpoint.image.clone(),
            configuration_type: endpoint
                .configuration_type
                .map(|kind| kind.as_str().to_owned()),
            ports: endpoint.ports().into_iter().map(i32::from).collect(),
            presentations: endpoint
                .presentations
                .iter()
                .map(|p| LivePresentation {
                    name: p.name.clone(),
                    port: p.port,
                    kind: p.kind.as_str().to_owned(),
                    hep_domain: format!(
                        "{}.{}",
                        names::ingress_host_label(&namespace, &endpoint.name, &p.name),
                        settings.heps_domain
                    ),
                })
                .collect(),
            host: None,
            reachable: false,
        })
        .collect();
    if lesson.uses_jupyter() {
        endpoints.push(LiveEndpoint {
            name: JUPYTER_ENDPOINT.to_owned(),
            position: i32::try_from(endpoints.len()).unwrap_or(i32::MAX),
            image: format!("{}:{}", settings.jupyter_image, settings.platform_image_tag),
            configuration_type: None,
            ports: vec![8888],
            presentations: Vec::new(),
            host: None,
            reachable: false,
        });
    }
    endpoints
}

/// Images a lesson's endpoints use that `images` lacks.
pub fn missing_images<'a>(lesson: &'a Lesson, images: &BTreeMap<String, Image>) -> Vec<&'a str> {
    let mut missing: Vec<&str> = lesson
        .endpoints
        .iter()
        .map(|e| e.image.as_str())
        .filter(|slug| !images.contains_key(*slug))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    missing
}
