//! What a livelesson's endpoints are, derived from its lesson and the backend's settings:
//! their order, ports and presentations, and the jupyter guide's. Host names and the
//! jupyter image come from [`Settings`]'s own methods, which the backend uses too, so each
//! is derived in one place.

use std::collections::BTreeMap;

use crate::backend::Settings;
use crate::curriculum::names::JUPYTER_ENDPOINT;
use crate::curriculum::{Image, Lesson};
use crate::ids::LivelessonId;
use crate::store::livelesson::{LiveEndpoint, LivePresentation};

/// The live endpoints of a new livelesson, in provisioning order (the jupyter guide last).
pub fn live_endpoints(
    settings: &Settings,
    lesson: &Lesson,
    id: &LivelessonId,
) -> Vec<LiveEndpoint> {
    let mut endpoints: Vec<LiveEndpoint> = lesson
        .endpoints
        .iter()
        .enumerate()
        .map(|(position, endpoint)| LiveEndpoint {
            name: endpoint.name.clone(),
            position: i32::try_from(position).unwrap_or(i32::MAX),
            image: endpoint.image.clone(),
            configuration_type: endpoint.configuration_type,
            ports: endpoint.ports().into_iter().map(i32::from).collect(),
            presentations: endpoint
                .presentations
                .iter()
                .map(|p| LivePresentation {
                    name: p.name.clone(),
                    port: p.port,
                    kind: p.kind,
                    hep_domain: settings.browser_address(settings.presentation_host(
                        id,
                        &endpoint.name,
                        &p.name,
                    )),
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
            image: settings.jupyter_image_ref(),
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
