//! Server-side dry run: every object the backend builds for every lesson of the example
//! curriculum is accepted by the real API server (admission and validation included),
//! with strict field validation, inside a namespace created with the labels the backend
//! sets. `ANTIDOTE_DRY_RUN_CURRICULUM=DIR` adds another curriculum (loaded at tier
//! `local`), e.g. the NRE Labs one, for a run by hand.

use std::path::{Path, PathBuf};

use antidote_scheduler::backend::kubernetes::resources::objects::{Object, livelesson_objects};
use antidote_scheduler::backend::{Livelesson, Settings};
use antidote_scheduler::curriculum::{self, Options, Tier};
use antidote_scheduler::ids::{LivelessonId, SessionId};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::PostParams;
use kube::core::{DynamicObject, Request};
use kube::{Client, Resource};
use serde_json::Value;

use crate::cluster;
use crate::harness::ControlPlane;

/// One refusal: the object and the server's answer.
struct Refusal {
    lesson: String,
    object: String,
    answer: String,
}

#[tokio::test]
async fn real_control_plane_dry_run_accepts_every_object_of_every_lesson() {
    let Some(plane) =
        ControlPlane::start_or_skip("real_control_plane_dry_run_accepts_every_object").await
    else {
        return;
    };
    let client = plane.admin_client().await;
    let settings = Settings {
        instance_id: "dryrun".into(),
        pull_cred_name: Some("pull-credentials".into()),
        ..Settings::default()
    };
    let sources = cluster::prepare(&client, &settings).await;

    let mut curricula = vec![(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("example-curriculum"),
        Tier::Prod,
    )];
    if let Ok(extra) = std::env::var("ANTIDOTE_DRY_RUN_CURRICULUM") {
        curricula.push((PathBuf::from(extra), Tier::Local));
    }
    let (mut lessons, mut objects, mut refusals) = (0, 0, Vec::new());
    for (index, (dir, tier)) in curricula.iter().enumerate() {
        let options = Options {
            tier: *tier,
            instance_id: settings.instance_id.clone(),
            ..Options::default()
        };
        let loaded = curriculum::load(dir, &options);
        let curriculum = loaded
            .curriculum
            .as_ref()
            .unwrap_or_else(|| panic!("{} loads", dir.display()));
        assert!(
            !curriculum.lessons.is_empty(),
            "{} has lessons",
            dir.display()
        );
        for (n, lesson) in curriculum.lessons.iter().enumerate() {
            let id = format!("dry{index}{n:06}");
            let images = curriculum.images_of(lesson);
            let ll = Livelesson {
                id: &LivelessonId::from(id),
                session_id: &SessionId::from("session01"),
                lesson,
                images: &images,
            };
            objects += dry_run_lesson(&client, &settings, &ll, &sources, &mut refusals).await;
            lessons += 1;
        }
    }
    eprintln!(
        "dry run: {objects} objects of {lessons} lessons sent to kube-apiserver {}, {} refused",
        crate::harness::kubernetes_version(),
        refusals.len()
    );
    let report: Vec<String> = refusals
        .iter()
        .map(|r| format!("{}: {}: {}", r.lesson, r.object, r.answer))
        .collect();
    assert!(report.is_empty(), "refused:\n{}", report.join("\n"));
}

/// Dry-runs every object of `ll`; the namespace is then created for real (the others need
/// it to exist). Returns how many objects were sent.
async fn dry_run_lesson(
    client: &Client,
    settings: &Settings,
    ll: &Livelesson<'_>,
    sources: &[Secret],
    refusals: &mut Vec<Refusal>,
) -> usize {
    let objects = match livelesson_objects(settings, ll, sources) {
        Ok(objects) => objects,
        Err(err) => {
            refusals.push(Refusal {
                lesson: ll.lesson.slug.clone(),
                object: "(builder)".into(),
                answer: err.to_string(),
            });
            return 0;
        }
    };
    for object in &objects {
        if let Err(answer) = dry_run(client, object).await {
            refusals.push(Refusal {
                lesson: ll.lesson.slug.clone(),
                object: object.describe(),
                answer,
            });
        }
        if let Object::Namespace(namespace) = object {
            let namespaces: kube::Api<Namespace> = kube::Api::all(client.clone());
            namespaces
                .create(&PostParams::default(), &**namespace)
                .await
                .expect("the livelesson namespace is created");
        }
    }
    objects.len()
}

/// POSTs `object` with `dryRun=All&fieldValidation=Strict`; the refusal's code, reason
/// and message on failure.
async fn dry_run(client: &Client, object: &Object) -> Result<(), String> {
    let body = object.to_json().map_err(|e| e.to_string())?;
    let namespace = body
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let resource = object.api_resource();
    let url = DynamicObject::url_path(&resource, namespace.as_deref());
    let params = PostParams {
        dry_run: true,
        field_manager: None,
    };
    let mut request = Request::new(url)
        .create(
            &params,
            serde_json::to_vec(&body).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
    let uri = format!("{}&fieldValidation=Strict", request.uri());
    *request.uri_mut() = uri.parse().map_err(|e| format!("{e}"))?;
    match client.request::<Value>(request).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) => Err(format!(
            "{} {}: {}",
            status.code, status.reason, status.message
        )),
        Err(other) => Err(other.to_string()),
    }
}
