//! Admission of new objects: name generation, validation, uid, and the per-kind defaults a
//! real API server's registry and admission plugins fill in (pods, services, jobs,
//! namespaces, secrets' `stringData`).

use crate::resources::ResourceDef;
use crate::status::ApiError;
use crate::store::meta_str;
use crate::{Shared, validation};
use serde_json::{Value, json};

const NAME_SUFFIX_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Validates and defaults a new object: name (or generateName), labels, spec, uid, and
/// per-kind defaults. Used by the API and by controllers that create objects.
pub(crate) fn prepare_new(
    s: &Shared,
    def: &ResourceDef,
    ns: &str,
    mut obj: Value,
) -> Result<Value, ApiError> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["apiVersion"] = json!(def.api_version());
    obj["kind"] = json!(def.kind);
    let body_ns = meta_str(&obj, "namespace");
    if def.namespaced && !body_ns.is_empty() && body_ns != ns {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if !meta_str(&obj, "resourceVersion").is_empty() {
        return Err(ApiError::internal(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let mut name = meta_str(&obj, "name").to_string();
    let gen_name = meta_str(&obj, "generateName").to_string();
    if name.is_empty() && !gen_name.is_empty() {
        // maxGeneratedNameLength in k8s.io/apiserver/pkg/storage/names: base cut to 58 chars.
        let base: String = gen_name.chars().take(58).collect();
        let suffix: String = (0..5)
            .map(|_| {
                let pick = s.knobs.rng_range(0, NAME_SUFFIX_CHARS.len() as u64);
                NAME_SUFFIX_CHARS[usize::try_from(pick).unwrap_or(0)] as char
            })
            .collect();
        name = format!("{base}{suffix}");
        obj["metadata"]["name"] = json!(name);
    }
    let causes = validation::validate_new_object(def, &obj);
    if !causes.is_empty() {
        return Err(ApiError::invalid(def.group, def.kind, &name, causes));
    }
    let uid = uuid::Builder::from_random_bytes(s.knobs.rng_bytes()).into_uuid();
    if let Some(m) = obj["metadata"].as_object_mut() {
        m.insert("uid".into(), json!(uid.to_string()));
        for f in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.remove(f);
        }
    }
    if def.has_status
        && let Some(o) = obj.as_object_mut()
    {
        o.remove("status");
    }
    apply_defaults(def, &mut obj, &name, &uid.to_string());
    Ok(obj)
}

fn apply_defaults(def: &ResourceDef, obj: &mut Value, name: &str, uid: &str) {
    match def.kind {
        "Namespace" => {
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
        }
        "Pod" => {
            default_pod_spec(&mut obj["spec"]);
            // Admission (ServiceAccount, Priority) fills these in on a real server.
            let spec = &mut obj["spec"];
            if spec.is_object() {
                let account = spec
                    .get("serviceAccountName")
                    .cloned()
                    .unwrap_or(json!("default"));
                spec["serviceAccountName"] = account.clone();
                spec["serviceAccount"] = account;
                for (k, v) in [
                    ("priority", json!(0)),
                    ("preemptionPolicy", json!("PreemptLowerPriority")),
                ] {
                    if spec.get(k).is_none() {
                        spec[k] = v;
                    }
                }
            }
            let qos = qos_class(&obj["spec"]);
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        "Service" => {
            let spec = &mut obj["spec"];
            for (k, v) in [
                ("type", json!("ClusterIP")),
                ("sessionAffinity", json!("None")),
                ("internalTrafficPolicy", json!("Cluster")),
                ("ipFamilies", json!(["IPv4"])),
                ("ipFamilyPolicy", json!("SingleStack")),
            ] {
                if spec.get(k).is_none() {
                    spec[k] = v;
                }
            }
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    if p.get("protocol").is_none() {
                        p["protocol"] = json!("TCP");
                    }
                    if p.get("targetPort").is_none() {
                        p["targetPort"] = p["port"].clone();
                    }
                }
            }
            obj["status"] = json!({"loadBalancer": {}});
        }
        "Ingress" => {
            obj["status"] = json!({"loadBalancer": {}});
        }
        "Secret" => fold_string_data(obj),
        "Job" => {
            let spec = &mut obj["spec"];
            for (k, v) in [
                ("backoffLimit", json!(6)),
                ("completions", json!(1)),
                ("parallelism", json!(1)),
                ("completionMode", json!("NonIndexed")),
                ("suspend", json!(false)),
                ("manualSelector", json!(false)),
                ("podReplacementPolicy", json!("TerminatingOrFailed")),
            ] {
                if spec.get(k).is_none() {
                    spec[k] = v;
                }
            }
            // pkg/registry/batch/job/strategy.go generateSelector: the template gets these.
            let labels = [
                ("batch.kubernetes.io/controller-uid", uid),
                ("batch.kubernetes.io/job-name", name),
                ("controller-uid", uid),
                ("job-name", name),
            ];
            for (k, v) in labels {
                spec["template"]["metadata"]["labels"][k] = json!(v);
            }
            if spec.get("selector").is_none() {
                spec["selector"] =
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
            }
            default_pod_spec(&mut spec["template"]["spec"]);
            obj["status"] = json!({});
        }
        _ => {}
    }
}

/// `stringData` is write-only: the server merges it into `data` (base64) and drops it;
/// `type` defaults to `Opaque`.
pub(crate) fn fold_string_data(obj: &mut Value) {
    use base64::Engine as _;
    let string_data = obj
        .as_object_mut()
        .and_then(|o| o.remove("stringData"))
        .and_then(|v| v.as_object().cloned());
    for (k, v) in string_data.into_iter().flatten() {
        let text = v.as_str().unwrap_or_default();
        obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
    if obj.get("type").is_none() {
        obj["type"] = json!("Opaque");
    }
}

/// The pod's QoS class from its containers' requests and limits: none anywhere is
/// BestEffort; cpu and memory limits on every container, with requests equal to them, is
/// Guaranteed; anything else Burstable.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .collect();
    let resources = |c: &Value, kind: &str| {
        c.pointer(&format!("/resources/{kind}"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let any = containers
        .iter()
        .any(|c| !resources(c, "requests").is_empty() || !resources(c, "limits").is_empty());
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let (requests, limits) = (resources(c, "requests"), resources(c, "limits"));
        ["cpu", "memory"].iter().all(|r| {
            limits.contains_key(*r) && requests.get(*r).is_none_or(|q| Some(q) == limits.get(*r))
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    let defaults = [
        ("restartPolicy", json!("Always")),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("enableServiceLinks", json!(true)),
        ("securityContext", json!({})),
    ];
    for (k, v) in defaults {
        if spec.get(k).is_none() {
            spec[k] = v;
        }
    }
    for key in ["initContainers", "containers"] {
        for c in spec
            .get_mut(key)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for (k, v) in [
                ("terminationMessagePath", json!("/dev/termination-log")),
                ("terminationMessagePolicy", json!("File")),
            ] {
                if c.get(k).is_none() {
                    c[k] = v;
                }
            }
        }
    }
}
