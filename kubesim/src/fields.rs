//! Unknown fields, as the API server's decoder treats them (`fieldValidation`): `Strict`
//! refuses a body with a field the kind does not have (400), `Warn` (the default) and
//! `Ignore` drop such fields before the object is stored. A kind's fields are those of its
//! k8s-openapi type; kinds without one (custom resources) keep every field.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, LimitRange, Namespace, Node, Pod, ResourceQuota, Secret, Service,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::status::ApiError;

/// The body as the kind knows it: unknown fields dropped, or a 400 under `Strict`.
pub fn apply(kind: &str, directive: Option<&str>, mut body: Value) -> Result<Value, ApiError> {
    let unknown = unknown_fields(kind, &body);
    if unknown.is_empty() {
        return Ok(body);
    }
    if directive == Some("Strict") {
        let list: Vec<String> = unknown
            .iter()
            .map(|path| format!("unknown field \"{}\"", path.join(".")))
            .collect();
        return Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            list.join(", ")
        )));
    }
    for path in &unknown {
        remove(&mut body, path);
    }
    Ok(body)
}

fn round_trip<T: DeserializeOwned + Serialize>(body: &Value) -> Option<Value> {
    let typed: T = serde_json::from_value(body.clone()).ok()?;
    serde_json::to_value(typed).ok()
}

/// Paths of the fields of `body` its kind's type does not keep (nulls aside). A body the
/// type cannot read at all is left to validation.
fn unknown_fields(kind: &str, body: &Value) -> Vec<Vec<String>> {
    let known = match kind {
        "Pod" => round_trip::<Pod>(body),
        "Service" => round_trip::<Service>(body),
        "Namespace" => round_trip::<Namespace>(body),
        "Secret" => round_trip::<Secret>(body),
        "ConfigMap" => round_trip::<ConfigMap>(body),
        "Event" => round_trip::<Event>(body),
        "Node" => round_trip::<Node>(body),
        "NetworkPolicy" => round_trip::<NetworkPolicy>(body),
        "Ingress" => round_trip::<Ingress>(body),
        "Job" => round_trip::<Job>(body),
        "ResourceQuota" => round_trip::<ResourceQuota>(body),
        "LimitRange" => round_trip::<LimitRange>(body),
        _ => None,
    };
    let mut out = Vec::new();
    if let Some(known) = known {
        missing(body, &known, &mut Vec::new(), &mut out);
    }
    out
}

fn missing(original: &Value, kept: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match (original, kept) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                path.push(key.clone());
                match b.get(key) {
                    Some(other) => missing(value, other, path, out),
                    None if !value.is_null() => out.push(path.clone()),
                    None => {}
                }
                path.pop();
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                path.push(i.to_string());
                missing(x, y, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn remove(body: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = body;
    for key in parents {
        at = match at {
            Value::Object(map) => match map.get_mut(key) {
                Some(next) => next,
                None => return,
            },
            Value::Array(items) => match key.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(next) => next,
                None => return,
            },
            _ => return,
        };
    }
    if let Value::Object(map) = at {
        map.remove(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_refused_under_strict_and_dropped_otherwise() {
        let body =
            json!({"metadata": {"name": "c"}, "data": {"a": "b"}, "bogus": 1, "metadata2": null});
        let refused = apply("ConfigMap", Some("Strict"), body.clone()).unwrap_err();
        assert_eq!(refused.code, 400);
        assert!(
            refused.message.contains("unknown field \"bogus\""),
            "{}",
            refused.message
        );
        let kept = apply("ConfigMap", None, body).unwrap();
        assert_eq!(kept.get("bogus"), None);
        assert_eq!(kept["data"]["a"], "b");
        let nested = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "imagee": "x"}]}});
        let kept = apply("Pod", Some("Warn"), nested).unwrap();
        assert_eq!(kept["spec"]["containers"][0].get("imagee"), None);
        let custom = json!({"spec": {"anything": 1}});
        assert_eq!(
            apply(
                "NetworkAttachmentDefinition",
                Some("Strict"),
                custom.clone()
            )
            .unwrap(),
            custom
        );
    }
}
