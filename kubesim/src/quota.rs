//! ResourceQuota admission, as kube-apiserver's `ResourceQuota` plugin and the quota
//! controller do it for compute resources: a pod whose containers do not name a resource
//! a quota of its namespace limits is refused (`failed quota: <name>: must specify ...`),
//! and a pod that would take the namespace's usage past a quota's hard limit is refused
//! with 403 Forbidden `exceeded quota: <name>, requested: ..., used: ..., limited: ...`,
//! the same status and message kube-apiserver answers.
//!
//! Usage is counted from the namespace's pods at each admission (pods that have finished,
//! `Succeeded` or `Failed`, count for nothing), so it is exact at once; the quota's
//! `status` (`hard`, `used`) is written when the quota is created and after each admitted
//! pod, not when pods go away.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::Shared;
use crate::resources::{self, ResourceDef};
use crate::status::ApiError;
use crate::store::meta_str;

/// The quota resources kubesim counts for pods.
const COMPUTE: [&str; 6] = [
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// A quantity in thousandths of its unit (millicores, millibytes), as kube-apiserver
/// compares them.
type Milli = i128;

/// Parses a Kubernetes quantity (`2`, `500m`, `1.5`, `1Gi`, `512Mi`, `1G`, `1e3`).
pub(crate) fn parse(text: &str) -> Option<Milli> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let scale: Milli = match suffix {
        "" => 1000,
        "m" => 1,
        "k" => 1_000_000,
        "M" => 1_000_000_000,
        "G" => 1_000_000_000_000,
        "T" => 1_000_000_000_000_000,
        "P" => 1_000_000_000_000_000_000,
        "E" => 1_000_000_000_000_000_000_000,
        "Ki" => 1000 << 10,
        "Mi" => 1000 << 20,
        "Gi" => 1000 << 30,
        "Ti" => 1000 << 40,
        "Pi" => 1000 << 50,
        "Ei" => 1000 << 60,
        exponent if exponent.starts_with(['e', 'E']) => {
            let power: u32 = exponent[1..].parse().ok()?;
            1000 * 10_i128.checked_pow(power)?
        }
        _ => return None,
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole = whole.strip_prefix('+').unwrap_or(whole);
    if whole.starts_with('-') || (whole.is_empty() && fraction.is_empty()) {
        return None;
    }
    let mut value: Milli = if whole.is_empty() {
        0
    } else {
        whole.parse::<Milli>().ok()?.checked_mul(scale)?
    };
    let mut unit = scale;
    for digit in fraction.chars() {
        let digit = Milli::from(digit.to_digit(10)?);
        unit /= 10;
        // Finer than a thousandth rounds up, as kube-apiserver does for millicores.
        value = value.checked_add(if unit == 0 {
            i128::from(digit > 0)
        } else {
            digit * unit
        })?;
        if unit == 0 {
            break;
        }
    }
    Some(value)
}

/// `value` of resource `key` as kube-apiserver prints it: CPU in cores or millicores,
/// memory with the largest binary suffix that keeps it whole, counts as numbers.
pub(crate) fn format(key: &str, value: Milli) -> String {
    if value == 0 {
        return "0".to_owned();
    }
    if key.ends_with("cpu") {
        return if value % 1000 == 0 {
            (value / 1000).to_string()
        } else {
            format!("{value}m")
        };
    }
    let whole = value / 1000;
    if value % 1000 == 0 && key.ends_with("memory") {
        for (suffix, shift) in [
            ("Ei", 60),
            ("Pi", 50),
            ("Ti", 40),
            ("Gi", 30),
            ("Mi", 20),
            ("Ki", 10),
        ] {
            if whole % (1 << shift) == 0 {
                return format!("{}{suffix}", whole >> shift);
            }
        }
    }
    if value % 1000 == 0 {
        whole.to_string()
    } else {
        format!("{value}m")
    }
}

/// Refuses a ResourceQuota or LimitRange holding a quantity that is none, with
/// kube-apiserver's decoding message.
pub(crate) fn check_quantities(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let mut values: Vec<&Value> = Vec::new();
    match def.kind {
        "ResourceQuota" => values.extend(
            obj.pointer("/spec/hard")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.values()),
        ),
        "LimitRange" => {
            for item in obj
                .pointer("/spec/limits")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for field in [
                    "default",
                    "defaultRequest",
                    "max",
                    "min",
                    "maxLimitRequestRatio",
                ] {
                    values.extend(
                        item.get(field)
                            .and_then(Value::as_object)
                            .into_iter()
                            .flat_map(|m| m.values()),
                    );
                }
            }
        }
        _ => return Ok(()),
    }
    let bad = values
        .iter()
        .any(|v| v.as_str().and_then(parse).is_none() && !v.is_i64() && !v.is_u64());
    if bad {
        return Err(ApiError::bad_request(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        ));
    }
    Ok(())
}

fn quantity(v: &Value) -> Option<Milli> {
    match v {
        Value::String(text) => parse(text),
        Value::Number(n) => n.as_i64().map(|n| Milli::from(n) * 1000),
        _ => None,
    }
}

/// What one container asks: `requests.*`, `limits.*` and the bare names (requests).
fn container_usage(container: &Value) -> BTreeMap<&'static str, Milli> {
    let mut out = BTreeMap::new();
    for (kind, keys) in [
        (
            "requests",
            [("cpu", "requests.cpu"), ("memory", "requests.memory")],
        ),
        (
            "limits",
            [("cpu", "limits.cpu"), ("memory", "limits.memory")],
        ),
    ] {
        for (resource, key) in keys {
            if let Some(value) = container
                .pointer(&format!("/resources/{kind}/{resource}"))
                .and_then(quantity)
            {
                out.insert(key, value);
                if kind == "requests" {
                    out.insert(resource, value);
                }
            }
        }
    }
    out
}

fn containers<'a>(pod: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    pod.pointer(&format!("/spec/{key}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// A pod's usage: the sum over its containers, or the largest init container's when that
/// is more (init containers run one at a time, before the others).
fn pod_usage(pod: &Value) -> BTreeMap<&'static str, Milli> {
    let mut sum: BTreeMap<&'static str, Milli> = BTreeMap::new();
    for container in containers(pod, "containers") {
        for (key, value) in container_usage(container) {
            *sum.entry(key).or_default() += value;
        }
    }
    for container in containers(pod, "initContainers") {
        for (key, value) in container_usage(container) {
            let entry = sum.entry(key).or_default();
            *entry = (*entry).max(value);
        }
    }
    sum
}

fn counts(pod: &Value) -> bool {
    !matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    ) && pod.pointer("/metadata/deletionTimestamp").is_none()
}

/// Usage of the pods of `ns`.
fn namespace_usage(s: &Shared, ns: &str) -> BTreeMap<&'static str, Milli> {
    let (pods, _) = s.store.list(resources::pods(), Some(ns), &counts);
    let mut used: BTreeMap<&'static str, Milli> = BTreeMap::new();
    for pod in pods {
        for (key, value) in pod_usage(&pod) {
            *used.entry(key).or_default() += value;
        }
    }
    used
}

fn hard(quota: &Value) -> BTreeMap<String, Milli> {
    quota
        .pointer("/spec/hard")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.clone(), quantity(value)?)))
        .collect()
}

fn pretty(values: &BTreeMap<String, Milli>) -> String {
    values
        .iter()
        .map(|(key, value)| format!("{key}={}", format(key, *value)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Admits pod `pod` into `ns` against every quota there, or refuses it as kube-apiserver
/// does. The caller holds the admission lock until the pod is stored.
pub(crate) fn admit_pod(s: &Shared, ns: &str, pod: &Value) -> Result<(), ApiError> {
    let (quotas, _) = s
        .store
        .list(resources::resource_quotas(), Some(ns), &|_| true);
    if quotas.is_empty() {
        return Ok(());
    }
    let name = meta_str(pod, "name");
    let requested = pod_usage(pod);
    let used = namespace_usage(s, ns);
    for quota in &quotas {
        let quota_name = meta_str(quota, "name");
        let hard = hard(quota);
        // Every container must name each compute resource the quota limits.
        let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for container in containers(pod, "containers").chain(containers(pod, "initContainers")) {
            let has = container_usage(container);
            for key in COMPUTE.iter().filter(|k| hard.contains_key(**k)) {
                if !has.contains_key(key) {
                    missing.entry(key).or_default().push(
                        container
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
            }
        }
        if !missing.is_empty() {
            let list: Vec<String> = missing
                .into_iter()
                .map(|(key, mut names)| {
                    names.sort();
                    format!("{key} for: {}", names.join(","))
                })
                .collect();
            return Err(ApiError::forbidden(
                "",
                "pods",
                name,
                &format!(
                    "failed quota: {quota_name}: must specify {}",
                    list.join("; ")
                ),
            ));
        }
        let exceeded: Vec<&String> = hard
            .iter()
            .filter(|(key, limit)| {
                requested.get(key.as_str()).is_some_and(|asked| {
                    used.get(key.as_str()).copied().unwrap_or_default() + asked > **limit
                })
            })
            .map(|(key, _)| key)
            .collect();
        if !exceeded.is_empty() {
            let pick = |from: &dyn Fn(&str) -> Milli| -> BTreeMap<String, Milli> {
                exceeded.iter().map(|k| ((*k).clone(), from(k))).collect()
            };
            let why = format!(
                "exceeded quota: {quota_name}, requested: {}, used: {}, limited: {}",
                pretty(&pick(&|k| requested.get(k).copied().unwrap_or_default())),
                pretty(&pick(&|k| used.get(k).copied().unwrap_or_default())),
                pretty(&pick(&|k| hard.get(k).copied().unwrap_or_default())),
            );
            return Err(ApiError::forbidden("", "pods", name, &why));
        }
    }
    Ok(())
}

/// Writes the status of every quota of `ns` (hard from spec, used from its pods), as
/// the quota controller does.
pub(crate) fn count(s: &Shared, ns: &str) {
    let (quotas, _) = s
        .store
        .list(resources::resource_quotas(), Some(ns), &|_| true);
    if quotas.is_empty() {
        return;
    }
    let used = namespace_usage(s, ns);
    for quota in quotas {
        let hard = hard(&quota);
        let status_used: serde_json::Map<String, Value> = hard
            .keys()
            .map(|key| {
                let value = used.get(key.as_str()).copied().unwrap_or_default();
                (key.clone(), json!(format(key, value)))
            })
            .collect();
        let spec_hard = quota.pointer("/spec/hard").cloned().unwrap_or(json!({}));
        s.store.mutate(
            resources::resource_quotas(),
            ns,
            meta_str(&quota, "name"),
            |q| {
                q["status"] = json!({"hard": spec_hard, "used": status_used});
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_to_thousandths() {
        assert_eq!(parse("2"), Some(2000));
        assert_eq!(parse("500m"), Some(500));
        assert_eq!(parse("0.5"), Some(500));
        assert_eq!(parse("1Gi"), Some(1000 << 30));
        assert_eq!(parse("1.5Gi"), Some(1500 << 30));
        assert_eq!(parse("1G"), Some(1_000_000_000_000));
        assert_eq!(parse("1e3"), Some(1_000_000));
        assert_eq!(parse("x"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn quantities_print_canonically() {
        assert_eq!(format("limits.cpu", 1000), "1");
        assert_eq!(format("limits.cpu", 1500), "1500m");
        assert_eq!(format("requests.memory", 1000 << 30), "1Gi");
        assert_eq!(format("requests.memory", 1536 * (1000 << 20)), "1536Mi");
        assert_eq!(format("memory", 0), "0");
        assert_eq!(format("pods", 3000), "3");
    }

    #[test]
    fn init_containers_count_as_their_largest() {
        let pod = json!({"spec": {
            "initContainers": [{"name": "i", "resources": {"limits": {"cpu": "2"}}}],
            "containers": [
                {"name": "a", "resources": {"limits": {"cpu": "500m"}}},
                {"name": "b", "resources": {"limits": {"cpu": "500m"}}}
            ]
        }});
        assert_eq!(pod_usage(&pod).get("limits.cpu"), Some(&2000));
    }
}
