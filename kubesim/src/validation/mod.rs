//! Validation of objects as kube-apiserver does it, on the subset that matters to the
//! simulation: what [`validate_new_object`] runs before a create, by concern.
//!
//! - `rules`: the string rules of `k8s.io/apimachinery/pkg/util/validation`, re-exported
//!   here (`is_dns1123_label` and the rest).
//! - `meta`: names, labels and annotations; `cause`: the field errors they report.
//! - `pod`, `job`, `service`, `ingress`: the per-kind spec checks of [`validate_spec`].

mod cause;
mod ingress;
mod job;
mod meta;
mod pod;
mod rules;
mod service;

pub use meta::{validate_meta_maps, validate_name};
pub use rules::{
    INTERFACE_NAME_MAX, is_config_map_key, is_dns1035_label, is_dns1123_label,
    is_dns1123_subdomain, is_qualified_name, is_valid_interface_name, is_valid_label_value,
    is_valid_port_name, is_wildcard_dns1123_subdomain,
};

use crate::resources::ResourceDef;
use crate::status::Cause;
use cause::invalid;
use serde_json::Value;

/// Every check kubesim makes before creating `obj` as a `def`: the resource's name rule,
/// labels and annotations, and the per-kind spec checks. Empty when the object would be
/// accepted. The API's create path runs exactly this; it is public so that code building
/// objects can test them against the same rules without a server.
pub fn validate_new_object(def: &ResourceDef, obj: &Value) -> Vec<Cause> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut causes = Vec::new();
    validate_name(def, name, &mut causes);
    validate_meta_maps(obj.get("metadata").unwrap_or(&Value::Null), &mut causes);
    validate_spec(def, obj, &mut causes);
    causes
}

/// Per-kind spec checks that matter for the simulation (a small subset of upstream).
pub fn validate_spec(def: &ResourceDef, obj: &Value, out: &mut Vec<Cause>) {
    match def.kind {
        "Pod" => pod::validate_pod_spec(obj.get("spec"), "spec", out),
        "Job" => job::validate_job(obj, out),
        "ConfigMap" | "Secret" => {
            for field in ["data", "binaryData", "stringData"] {
                if let Some(m) = obj.get(field).and_then(Value::as_object) {
                    for k in m.keys() {
                        invalid(&format!("{field}[{k}]"), k, is_config_map_key(k), out);
                    }
                }
            }
        }
        "Service" => service::validate_service(obj, out),
        "Ingress" => ingress::validate_ingress(obj, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(
        clippy::needless_pass_by_value,
        reason = "callers pass `json!` literals"
    )]
    fn causes(kind: &str, obj: Value) -> Vec<String> {
        let def = crate::resources::RESOURCES
            .iter()
            .find(|r| r.kind == kind)
            .unwrap();
        validate_new_object(def, &obj)
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn a_job_name_must_fit_the_job_name_label_of_its_pods() {
        let job = |name: &str| {
            serde_json::json!({
                "metadata": {"name": name},
                "spec": {"template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox"}],
                }}},
            })
        };
        assert_eq!(causes("Job", job(&"j".repeat(63))), Vec::<String>::new());
        let long = causes("Job", job(&"j".repeat(64)));
        assert!(
            long.iter()
                .any(|c| c.starts_with("spec.template.metadata.labels")
                    && c.contains("must be no more than 63 characters")),
            "{long:?}"
        );
    }

    #[test]
    fn service_ports_need_unique_dns_label_names_when_there_are_several() {
        let svc = |ports: Value| {
            serde_json::json!({
                "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": ports},
            })
        };
        assert!(causes("Service", svc(serde_json::json!([{"port": 80}]))).is_empty());
        let unnamed = causes(
            "Service",
            svc(serde_json::json!([{"port": 80}, {"port": 81}])),
        );
        assert_eq!(
            unnamed,
            [
                "spec.ports[0].name: Required value",
                "spec.ports[1].name: Required value"
            ]
        );
        let dup = causes(
            "Service",
            svc(serde_json::json!([
                {"name": "a", "port": 80}, {"name": "a", "port": 80}, {"name": "B_", "port": 81}
            ])),
        );
        assert!(dup.contains(&"spec.ports[1].name: Duplicate value: \"a\"".to_owned()));
        assert!(dup.contains(&"spec.ports[1]: Duplicate value: \"80/TCP\"".to_owned()));
        assert!(
            dup.iter()
                .any(|c| c.starts_with("spec.ports[2].name: Invalid"))
        );
        let selector = serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "-bad"}, "ports": [{"port": 80}]},
        });
        assert_eq!(causes("Service", selector).len(), 1);
    }

    #[test]
    fn ingress_hosts_are_dns_subdomains_and_backends_name_a_service() {
        let ingress = |host: &str, service: &str, port: Value| {
            serde_json::json!({
                "metadata": {"name": "web"},
                "spec": {
                    "tls": [{"hosts": [host]}],
                    "rules": [{"host": host, "http": {"paths": [{
                        "path": "/", "pathType": "Prefix",
                        "backend": {"service": {"name": service, "port": port}},
                    }]}}],
                },
            })
        };
        let number = serde_json::json!({"number": 80});
        assert!(causes("Ingress", ingress("a.example.com", "web", number.clone())).is_empty());
        assert!(causes("Ingress", ingress("*.example.com", "web", number.clone())).is_empty());
        assert_eq!(
            causes("Ingress", ingress("A.example.com", "web", number.clone())).len(),
            2,
            "rule and tls host"
        );
        assert_eq!(
            causes("Ingress", ingress("10.0.0.1", "web", number.clone())).len(),
            1
        );
        assert_eq!(causes("Ingress", ingress("a.com", "1web", number)).len(), 1);
        assert_eq!(
            causes("Ingress", ingress("a.com", "web", serde_json::json!({}))),
            ["spec.rules[0].http.paths[0].backend.service.port.name: Required value"]
        );
    }

    #[test]
    fn pod_names_volumes_and_ports_are_unique_and_resolved() {
        let pod = serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "volumes": [
                    {"name": "files", "configMap": {"name": "cm", "items": [
                        {"key": "k", "path": "a/b"}, {"key": "k2", "path": "../x"},
                    ]}},
                    {"name": "files"},
                ],
                "initContainers": [{"name": "c", "image": "i"}],
                "containers": [{
                    "name": "c", "image": "i",
                    "volumeMounts": [{"name": "missing", "mountPath": "/m"}],
                    "ports": [
                        {"name": "ssh-22", "containerPort": 22},
                        {"name": "ssh-22", "containerPort": 23},
                    ],
                }],
            },
        });
        assert_eq!(
            causes("Pod", pod),
            [
                "spec.volumes[0].configMap.items[1].path: Invalid value: \"../x\": must not contain '..'",
                "spec.volumes[1].name: Duplicate value: \"files\"",
                "spec.containers[0].name: Duplicate value: \"c\"",
                "spec.containers[0].volumeMounts[0].name: Not found: \"missing\"",
                "spec.containers[0].ports[1].name: Duplicate value: \"ssh-22\"",
            ]
        );
    }
}
