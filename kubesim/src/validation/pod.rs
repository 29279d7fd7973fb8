//! Pod specs (of pods and of pod templates): volumes and their config map items,
//! containers, their names, images, volume mounts and ports.

use super::cause::{duplicate, invalid, not_found, port_number, required};
use super::rules::{is_dns1123_label, is_valid_port_name};
use crate::status::Cause;
use serde_json::Value;
use std::collections::HashSet;

/// `validateLocalNonReservedPath`: a relative path that stays below its volume.
fn local_path_errors(path: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if path.starts_with('/') {
        errs.push("must be a relative path".into());
    }
    if path.split('/').any(|part| part == "..") {
        errs.push("must not contain '..'".into());
    } else if path.starts_with("..") {
        errs.push("must not start with '..'".into());
    }
    errs
}

fn validate_volumes<'a>(spec: &'a Value, path: &str, out: &mut Vec<Cause>) -> HashSet<&'a str> {
    let mut names = HashSet::new();
    let volumes = spec.get("volumes").and_then(Value::as_array);
    for (i, volume) in volumes.into_iter().flatten().enumerate() {
        let base = format!("{path}.volumes[{i}]");
        match volume
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "" => required(&format!("{base}.name"), out),
            name => {
                invalid(&format!("{base}.name"), name, is_dns1123_label(name), out);
                if !names.insert(name) {
                    duplicate(&format!("{base}.name"), name, out);
                }
            }
        }
        let items = volume.pointer("/configMap/items").and_then(Value::as_array);
        for (j, item) in items.into_iter().flatten().enumerate() {
            let field = format!("{base}.configMap.items[{j}]");
            if item
                .get("key")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                required(&format!("{field}.key"), out);
            }
            match item.get("path").and_then(Value::as_str).unwrap_or_default() {
                "" => required(&format!("{field}.path"), out),
                p => invalid(&format!("{field}.path"), p, local_path_errors(p), out),
            }
        }
    }
    names
}

pub(super) fn validate_pod_spec(spec: Option<&Value>, path: &str, out: &mut Vec<Cause>) {
    let Some(spec) = spec else {
        required(path, out);
        return;
    };
    let volumes = validate_volumes(spec, path, out);
    let containers = spec.get("containers").and_then(Value::as_array);
    if containers.is_none_or(std::vec::Vec::is_empty) {
        required(&format!("{path}.containers"), out);
    }
    // validateContainers: one namespace of names across init and regular containers.
    let mut container_names = HashSet::new();
    for (list, items) in [
        (
            "initContainers",
            spec.get("initContainers").and_then(Value::as_array),
        ),
        ("containers", containers),
    ] {
        for (i, c) in items.into_iter().flatten().enumerate() {
            let base = format!("{path}.{list}[{i}]");
            match c.get("name").and_then(Value::as_str) {
                Some(n) => {
                    invalid(&format!("{base}.name"), n, is_dns1123_label(n), out);
                    if !container_names.insert(n) {
                        duplicate(&format!("{base}.name"), n, out);
                    }
                }
                None => required(&format!("{base}.name"), out),
            }
            if c.get("image")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                required(&format!("{base}.image"), out);
            }
            let mounts = c.get("volumeMounts").and_then(Value::as_array);
            for (j, mount) in mounts.into_iter().flatten().enumerate() {
                let name = mount
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !volumes.contains(name) {
                    not_found(&format!("{base}.volumeMounts[{j}].name"), name, out);
                }
                if mount
                    .get("mountPath")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    required(&format!("{base}.volumeMounts[{j}].mountPath"), out);
                }
            }
            // validateContainerPorts: port names are unique within the container.
            let mut port_names = HashSet::new();
            for (j, p) in c
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                port_number(
                    &format!("{base}.ports[{j}].containerPort"),
                    p.get("containerPort"),
                    out,
                );
                if let Some(n) = p.get("name").and_then(Value::as_str)
                    && !n.is_empty()
                {
                    invalid(
                        &format!("{base}.ports[{j}].name"),
                        n,
                        is_valid_port_name(n),
                        out,
                    );
                    if !port_names.insert(n) {
                        duplicate(&format!("{base}.ports[{j}].name"), n, out);
                    }
                }
            }
        }
    }
}
