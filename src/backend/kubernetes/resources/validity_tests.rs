//! Every object built for every example lesson has Kubernetes-valid names and labels, for
//! instance ids up to the longest the validation accepts: whatever the curriculum
//! validation lets through, the builders can provision.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::fixture::Fixture;
use super::*;
use crate::curriculum::names::{MAX_INSTANCE_ID_LEN, is_dns1035_label, is_dns1123_label};

fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns1123_label)
}

fn is_label_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    value.is_empty()
        || (value.len() <= 63
            && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
            && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
}

fn is_label_key(key: &str) -> bool {
    let (prefix, name) = key
        .rsplit_once('/')
        .map_or((None, key), |(p, n)| (Some(p), n));
    prefix.is_none_or(is_dns1123_subdomain) && !name.is_empty() && is_label_value(name)
}

fn is_iana_svc_name(name: &str) -> bool {
    name.len() <= 15
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn check_labels(what: &str, labels: Option<&BTreeMap<String, String>>) {
    let labels = labels.unwrap_or_else(|| panic!("{what}: no labels"));
    for (key, value) in labels {
        assert!(is_label_key(key), "{what}: label key {key:?}");
        assert!(is_label_value(value), "{what}: label {key}={value:?}");
    }
}

/// Name rule, common labels and namespace of a namespaced object.
fn check_meta(what: &str, meta: &ObjectMeta, ns: &str, rule: fn(&str) -> bool) {
    let name = meta.name.as_deref().unwrap_or_default();
    assert!(rule(name), "{what}: invalid name {name:?}");
    assert_eq!(meta.namespace.as_deref(), Some(ns), "{what} {name}");
    let labels = meta.labels.as_ref();
    check_labels(&format!("{what} {name}"), labels);
    for key in [
        LABEL_LIVELESSON,
        LABEL_LIVESESSION,
        LABEL_LESSON_SLUG,
        LABEL_INSTANCE,
        LABEL_MANAGED_BY,
    ] {
        assert!(
            labels.is_some_and(|l| l.contains_key(key)),
            "{what} {name}: no {key}"
        );
    }
}

fn instance_ids() -> Vec<String> {
    let long = |len: usize| {
        let mut id: String = "staging-".repeat(10).chars().take(len - 1).collect();
        id.push('x');
        id
    };
    vec![
        "antidote".to_owned(),
        long(20),
        long(32),
        long(42),
        long(MAX_INSTANCE_ID_LEN),
    ]
}

#[test]
fn every_object_of_every_loadable_lesson_has_valid_names_and_labels() {
    for instance_id in instance_ids() {
        let fx = Fixture::for_instance(&instance_id);
        if instance_id.len() <= 32 {
            assert_eq!(
                fx.curriculum.lessons.len(),
                4,
                "{instance_id}: every lesson fits"
            );
        }
        for lesson in &fx.curriculum.lessons {
            check_lesson(&fx, &lesson.slug);
        }
    }
}

fn check_lesson(fx: &Fixture, slug: &str) {
    let settings = &fx.settings;
    let ll = fx.livelesson(slug);
    let ns = namespace_name(settings, ll.id);

    let namespace = namespace(settings, &ll);
    assert!(
        is_dns1123_label(namespace.metadata.name.as_deref().unwrap()),
        "{ns}"
    );
    check_labels("namespace", namespace.metadata.labels.as_ref());

    let policy = network_policy(settings, &ll);
    check_meta("networkpolicy", &policy.metadata, &ns, is_dns1123_subdomain);
    let credentials = config_credentials_secret(settings, &ll);
    check_meta("secret", &credentials.metadata, &ns, is_dns1123_subdomain);
    for key in credentials.data.unwrap().keys() {
        assert!(is_label_value(key) && key.len() <= 253, "secret key {key}");
    }
    let files = lesson_files(settings, &ll);
    check_meta("configmap", &files.metadata, &ns, is_dns1123_subdomain);
    for key in files.data.unwrap().keys() {
        let ok = key.len() <= 253
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        assert!(ok, "configmap key {key}");
    }

    let mut nad_names = BTreeSet::new();
    for nad in network_attachments(settings, &ll) {
        check_meta("nad", &nad.metadata, &ns, is_dns1123_subdomain);
        let config: serde_json::Value =
            serde_json::from_str(nad.data["spec"]["config"].as_str().unwrap()).unwrap();
        assert!(config["bridge"].as_str().unwrap().len() <= 15);
        assert!(
            nad_names.insert(nad.metadata.name.unwrap()),
            "NAD names are unique"
        );
    }

    let mut pods = vec![];
    let mut services = vec![];
    let mut ingresses_all = vec![];
    for endpoint in &ll.lesson.endpoints {
        pods.push(pod(settings, &ll, endpoint).unwrap());
        services.push(service(settings, &ll, endpoint));
        ingresses_all.extend(ingresses(settings, &ll, endpoint));
        for stage in 0..ll.lesson.stages.len() {
            if endpoint.configuration_type.is_none() {
                continue;
            }
            let job = config_job(settings, &ll, endpoint, stage, &endpoint.name).unwrap();
            // The job name becomes the `job-name` label of its pods.
            check_meta("job", &job.metadata, &ns, is_dns1123_label);
            let template = job.spec.unwrap().template;
            check_labels("job pod", template.metadata.unwrap().labels.as_ref());
            for c in template.spec.unwrap().containers {
                assert!(is_dns1123_label(&c.name));
            }
        }
    }
    if ll.lesson.uses_jupyter() {
        pods.push(jupyter_pod(settings, &ll));
        services.push(jupyter_service(settings, &ll));
        ingresses_all.push(jupyter_ingress(settings, &ll));
    }

    for pod in &pods {
        check_meta("pod", &pod.metadata, &ns, is_dns1123_label);
        let spec = pod.spec.as_ref().unwrap();
        for c in spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
        {
            assert!(is_dns1123_label(&c.name), "container {}", c.name);
            for port in c.ports.iter().flatten() {
                let name = port.name.as_deref().unwrap();
                assert!(is_iana_svc_name(name), "port name {name}");
            }
        }
        if let Some(annotations) = &pod.metadata.annotations {
            let networks: Vec<serde_json::Value> =
                serde_json::from_str(&annotations["k8s.v1.cni.cncf.io/networks"]).unwrap();
            for network in networks {
                assert!(nad_names.contains(network["name"].as_str().unwrap()));
            }
        }
    }
    for svc in &services {
        check_meta("service", &svc.metadata, &ns, is_dns1035_label);
        let selector = svc.spec.as_ref().unwrap().selector.as_ref().unwrap();
        let selected = pods.iter().filter(|pod| {
            let labels = pod.metadata.labels.as_ref().unwrap();
            selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        });
        assert_eq!(
            selected.count(),
            1,
            "service {:?} selects its pod",
            svc.metadata.name
        );
    }
    for ing in &ingresses_all {
        check_meta("ingress", &ing.metadata, &ns, is_dns1123_subdomain);
        let rule = &ing.spec.as_ref().unwrap().rules.as_ref().unwrap()[0];
        let host = rule.host.as_deref().unwrap();
        assert!(is_dns1123_subdomain(host), "host {host}");
        let backend = rule.http.as_ref().unwrap().paths[0]
            .backend
            .service
            .as_ref()
            .unwrap();
        let svc = services
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(backend.name.as_str()))
            .expect("ingress backend service exists");
        let port = backend.port.as_ref().unwrap().number.unwrap();
        assert!(
            svc.spec
                .as_ref()
                .unwrap()
                .ports
                .iter()
                .flatten()
                .any(|p| p.port == port)
        );
    }
}

#[test]
fn label_checks_reject_what_kubernetes_rejects() {
    assert!(is_label_value(""));
    assert!(!is_label_value("-a"));
    assert!(!is_label_value(&"a".repeat(64)));
    assert!(is_label_key("app.kubernetes.io/managed-by"));
    assert!(!is_label_key("bad key"));
    assert!(is_iana_svc_name("http-8080"));
    assert!(!is_iana_svc_name("8080"));
    assert!(!is_iana_svc_name("port-with-a-long-name"));
}
