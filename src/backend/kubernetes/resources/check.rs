//! Test and fuzzing support: builds every object of a livelesson and asks kubesim's
//! validation whether the API server would accept each one, plus the cross-object facts a
//! working lab needs (unique names per kind, services that select their pod, references
//! that resolve). Compiled for tests and with the `object-check` feature only.
//!
//! kubesim is the authority on the Kubernetes rules: nothing here re-states a name or
//! label rule, it only gathers objects and calls `kubesim::validation`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubesim::validation;
use serde::Serialize;
use serde_json::Value;

use super::{
    LABEL_INSTANCE, LABEL_LESSON_SLUG, LABEL_LIVELESSON, LABEL_MANAGED_BY, Livelesson, Result,
    Settings, config_credentials_secret, endpoint, files, job, objects,
};

/// Every object a livelesson can create, serialised as sent to the API server.
struct Objects {
    ns: String,
    all: Vec<Value>,
    pods: Vec<Pod>,
    services: Vec<Service>,
}

impl Objects {
    fn push(&mut self, object: &impl Serialize) {
        // An object that cannot be serialised is reported as a kind kubesim does not serve.
        let value = serde_json::to_value(object)
            .unwrap_or_else(|err| serde_json::json!({ "kind": format!("unserialisable: {err}") }));
        self.all.push(value);
    }
}

/// Builds every object of `ll` the way the backend does ([`objects::livelesson_objects`]),
/// with a TLS secret to copy. The configuration credentials are built even for lessons
/// without a configurable endpoint, so that the secret is checked for every lesson.
fn build(settings: &Settings, ll: &Livelesson<'_>) -> Result<Objects, String> {
    let mut objects = Objects {
        ns: settings.namespace(ll.id),
        all: Vec::new(),
        pods: Vec::new(),
        services: Vec::new(),
    };
    let tls = Secret {
        metadata: ObjectMeta {
            name: Some(settings.tls_cert_name.clone()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            "tls.crt".to_owned(),
            ByteString(b"cert".to_vec()),
        )])),
        ..Secret::default()
    };
    let built = objects::livelesson_objects(settings, ll, &[tls]).map_err(|e| e.to_string())?;
    let has_credentials = built.iter().any(|o| {
        matches!(o, objects::Object::Secret(s) if s.metadata.name.as_deref() == Some(job::CONFIG_CREDENTIALS))
    });
    if !has_credentials {
        objects.push(&config_credentials_secret(settings, ll));
    }
    for object in built {
        match &object {
            objects::Object::Pod(pod) => objects.pods.push((**pod).clone()),
            objects::Object::Service(service) => objects.services.push((**service).clone()),
            _ => {}
        }
        match object.to_json() {
            Ok(value) => objects.all.push(value),
            // Reported as a kind kubesim does not serve.
            Err(err) => objects
                .all
                .push(serde_json::json!({ "kind": format!("unserialisable: {err}") })),
        }
    }
    Ok(objects)
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// What is wrong with the objects of `ll`, each problem naming its object; empty when
/// kubesim accepts every object and the objects fit together.
pub fn problems(settings: &Settings, ll: &Livelesson<'_>) -> Vec<String> {
    let objects = match build(settings, ll) {
        Ok(objects) => objects,
        Err(err) => return vec![format!("a builder failed: {err}")],
    };
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for object in &objects.all {
        let kind = str_at(object, "/kind");
        let name = str_at(object, "/metadata/name");
        let what = format!("{kind} {name:?}");
        let Some(def) = kubesim::resources::find_kind(str_at(object, "/apiVersion"), kind) else {
            problems.push(format!("{what}: kubesim serves no such kind"));
            continue;
        };
        for cause in validation::validate_new_object(def, object) {
            problems.push(format!("{what}: {}: {}", cause.field, cause.message));
        }
        // A second object of a kind and name is AlreadyExists, which the backend takes for
        // its own earlier attempt: one of the two objects would silently be missing.
        if !names.insert((kind, name)) {
            problems.push(format!("{what}: two objects have this name"));
        }
        let namespace = str_at(object, "/metadata/namespace");
        let expected = if def.namespaced {
            objects.ns.as_str()
        } else {
            ""
        };
        if namespace != expected {
            problems.push(format!("{what}: in namespace {namespace:?}"));
        }
        for key in [
            LABEL_LIVELESSON,
            LABEL_LESSON_SLUG,
            LABEL_INSTANCE,
            LABEL_MANAGED_BY,
        ] {
            if object
                .pointer("/metadata/labels")
                .and_then(|l| l.get(key))
                .is_none()
            {
                problems.push(format!("{what}: no label {key}"));
            }
        }
    }
    references(&objects, &mut problems);
    let stored = objects
        .all
        .iter()
        .find(|o| str_at(o, "/kind") == "ConfigMap")
        .and_then(|cm| cm.get("data"))
        .and_then(Value::as_object)
        .map_or(0, serde_json::Map::len);
    if stored != ll.lesson.files.len() {
        problems.push(format!(
            "ConfigMap {:?}: {stored} keys for {} lesson files",
            files::LESSON_FILES,
            ll.lesson.files.len()
        ));
    }
    problems
}

/// The facts that tie objects together.
fn references(objects: &Objects, problems: &mut Vec<String>) {
    let of_kind = |kind: &'static str| {
        objects
            .all
            .iter()
            .filter(move |o| str_at(o, "/kind") == kind)
    };

    // Bridges: valid interface names, one per connection (a shared bridge joins two links).
    let mut bridges = BTreeSet::new();
    let nads: BTreeSet<&str> = of_kind("NetworkAttachmentDefinition")
        .map(|nad| str_at(nad, "/metadata/name"))
        .collect();
    for nad in of_kind("NetworkAttachmentDefinition") {
        let name = str_at(nad, "/metadata/name");
        let config: Value = match serde_json::from_str(str_at(nad, "/spec/config")) {
            Ok(config) => config,
            Err(err) => {
                problems.push(format!("NAD {name:?}: config is not JSON: {err}"));
                continue;
            }
        };
        let bridge = str_at(&config, "/bridge").to_owned();
        for err in validation::is_valid_interface_name(&bridge) {
            problems.push(format!("NAD {name:?}: bridge {bridge:?}: {err}"));
        }
        if !bridges.insert(bridge.clone()) {
            problems.push(format!("NAD {name:?}: bridge {bridge:?} is shared"));
        }
    }

    // Pods: networks name built NADs with valid interface names; services select one pod.
    for pod in &objects.pods {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let networks = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(endpoint::MULTUS_NETWORKS_ANNOTATION));
        if let Some(networks) = networks {
            let networks: Vec<Value> = serde_json::from_str(networks).unwrap_or_default();
            let mut interfaces = BTreeSet::new();
            for network in &networks {
                let nad = str_at(network, "/name");
                if !nads.contains(nad) {
                    problems.push(format!("Pod {name:?}: network {nad:?} is not built"));
                }
                let interface = str_at(network, "/interface");
                for err in validation::is_valid_interface_name(interface) {
                    problems.push(format!("Pod {name:?}: interface {interface:?}: {err}"));
                }
                if !interfaces.insert(interface) {
                    problems.push(format!("Pod {name:?}: interface {interface:?} twice"));
                }
            }
        }
    }
    for service in &objects.services {
        let name = service.metadata.name.as_deref().unwrap_or_default();
        let selector = service
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        let selected = objects
            .pods
            .iter()
            .filter(|pod| {
                let labels = pod.metadata.labels.clone().unwrap_or_default();
                selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .count();
        if selected != 1 {
            problems.push(format!("Service {name:?} selects {selected} pods"));
        }
    }

    // Ingresses reach a built service on one of its ports.
    for ingress in of_kind("Ingress") {
        let name = str_at(ingress, "/metadata/name");
        let backend = "/spec/rules/0/http/paths/0/backend/service";
        let service = str_at(ingress, &format!("{backend}/name"));
        let port = ingress.pointer(&format!("{backend}/port/number"));
        let served = objects.services.iter().any(|s| {
            s.metadata.name.as_deref() == Some(service)
                && s.spec
                    .iter()
                    .flat_map(|s| s.ports.iter().flatten())
                    .any(|p| port.and_then(Value::as_i64) == Some(i64::from(p.port)))
        });
        if !served {
            problems.push(format!(
                "Ingress {name:?}: no service {service:?} on {port:?}"
            ));
        }
    }

    // Every lesson file reaches the pods under its own key; jobs read existing keys.
    let files = of_kind("ConfigMap").next();
    let data = files.and_then(|f| f.get("data")).and_then(Value::as_object);
    let keys: BTreeSet<&str> = data
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    let credentials: BTreeSet<&str> = of_kind("Secret")
        .filter(|s| str_at(s, "/metadata/name") == job::CONFIG_CREDENTIALS)
        .flat_map(|s| {
            s.get("data")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
        })
        .map(|(k, _)| k.as_str())
        .collect();
    for object in of_kind("Pod").chain(of_kind("Job")) {
        let what = format!(
            "{} {:?}",
            str_at(object, "/kind"),
            str_at(object, "/metadata/name")
        );
        let spec = object
            .pointer("/spec/template/spec")
            .or_else(|| object.get("spec"))
            .unwrap_or(&Value::Null);
        let volumes = spec.get("volumes").and_then(Value::as_array);
        for volume in volumes.into_iter().flatten() {
            let Some(items) = volume.pointer("/configMap/items").and_then(Value::as_array) else {
                continue;
            };
            let item_keys: BTreeSet<&str> = items.iter().map(|i| str_at(i, "/key")).collect();
            if item_keys.len() != items.len() {
                problems.push(format!("{what}: two lesson files share a ConfigMap key"));
            }
            if item_keys != keys {
                problems.push(format!(
                    "{what}: items {item_keys:?} differ from the ConfigMap's keys {keys:?}"
                ));
            }
        }
        let containers = spec.get("containers").and_then(Value::as_array);
        for env in containers
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("env").and_then(Value::as_array))
            .flatten()
        {
            if let Some(key) = env
                .pointer("/valueFrom/secretKeyRef/key")
                .and_then(Value::as_str)
                && !credentials.contains(key)
            {
                problems.push(format!("{what}: secret key {key:?} is not in the secret"));
            }
        }
    }
}
