//! Services: ports (names, numbers, target ports, duplicates) and the selector.

use super::cause::{duplicate, invalid, port_number, required};
use super::meta::validate_labels;
use super::rules::{is_dns1123_label, is_valid_port_name};
use crate::status::Cause;
use serde_json::Value;
use std::collections::HashSet;

/// Ports and selector of `ValidateService` (pkg/apis/core/validation).
pub(super) fn validate_service(obj: &Value, out: &mut Vec<Cause>) {
    let ports = obj
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    // Only headless and ExternalName services may go without ports.
    let headless = obj.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
    let external = obj.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName");
    if ports.is_empty() && !headless && !external {
        required("spec.ports", out);
    }
    // validateServicePort: names are optional only on a single-port service.
    let require_name = ports.len() > 1;
    let mut names = HashSet::new();
    let mut ports_seen = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let base = format!("spec.ports[{i}]");
        match p.get("name").and_then(Value::as_str).unwrap_or_default() {
            "" if require_name => required(&format!("{base}.name"), out),
            "" => {}
            name => {
                invalid(&format!("{base}.name"), name, is_dns1123_label(name), out);
                if !names.insert(name) {
                    duplicate(&format!("{base}.name"), name, out);
                }
            }
        }
        port_number(&format!("{base}.port"), p.get("port"), out);
        match p.get("targetPort") {
            Some(Value::String(name)) => invalid(
                &format!("{base}.targetPort"),
                name,
                is_valid_port_name(name),
                out,
            ),
            Some(number @ Value::Number(_)) => {
                port_number(&format!("{base}.targetPort"), Some(number), out);
            }
            _ => {}
        }
        let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
        let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !ports_seen.insert((port, protocol)) {
            duplicate(&base, &format!("{port}/{protocol}"), out);
        }
    }
    if let Some(selector) = obj.pointer("/spec/selector") {
        validate_labels(selector, "spec.selector", out);
    }
}
