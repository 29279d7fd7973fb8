//! Ingresses: rule and TLS hosts, and the service backends of paths and the default.

use super::cause::{invalid, port_number, required};
use super::rules::{
    is_dns1035_label, is_dns1123_subdomain, is_valid_port_name, is_wildcard_dns1123_subdomain,
};
use crate::status::Cause;
use serde_json::Value;

/// Hosts and backends of `ValidateIngressSpec` (pkg/apis/networking/validation).
pub(super) fn validate_ingress(obj: &Value, out: &mut Vec<Cause>) {
    let host_rule = |host: &str| {
        if host.contains('*') {
            is_wildcard_dns1123_subdomain(host)
        } else {
            is_dns1123_subdomain(host)
        }
    };
    let rules = obj.pointer("/spec/rules").and_then(Value::as_array);
    for (i, rule) in rules.into_iter().flatten().enumerate() {
        let base = format!("spec.rules[{i}]");
        if let Some(host) = rule.get("host").and_then(Value::as_str)
            && !host.is_empty()
        {
            if host.parse::<std::net::IpAddr>().is_ok() {
                invalid(
                    &format!("{base}.host"),
                    host,
                    vec!["must be a DNS name, not an IP address".into()],
                    out,
                );
            }
            invalid(&format!("{base}.host"), host, host_rule(host), out);
        }
        let paths = rule.pointer("/http/paths").and_then(Value::as_array);
        for (j, path) in paths.into_iter().flatten().enumerate() {
            let field = format!("{base}.http.paths[{j}].backend");
            validate_ingress_backend(path.get("backend"), &field, out);
        }
    }
    if let Some(backend) = obj.pointer("/spec/defaultBackend") {
        validate_ingress_backend(Some(backend), "spec.defaultBackend", out);
    }
    let tls = obj.pointer("/spec/tls").and_then(Value::as_array);
    for (i, tls) in tls.into_iter().flatten().enumerate() {
        let hosts = tls.get("hosts").and_then(Value::as_array);
        for (j, host) in hosts.into_iter().flatten().enumerate() {
            let host = host.as_str().unwrap_or_default();
            invalid(
                &format!("spec.tls[{i}].hosts[{j}]"),
                host,
                host_rule(host),
                out,
            );
        }
    }
}

/// `validateIngressBackend`: a service backend names a Service (a DNS-1035 label) and one
/// port, by name or by number.
fn validate_ingress_backend(backend: Option<&Value>, field: &str, out: &mut Vec<Cause>) {
    let Some(service) = backend.and_then(|b| b.get("service")) else {
        return;
    };
    match service
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "" => required(&format!("{field}.service.name"), out),
        name => invalid(
            &format!("{field}.service.name"),
            name,
            is_dns1035_label(name),
            out,
        ),
    }
    let port = service.get("port");
    let name = port.and_then(|p| p.get("name")).and_then(Value::as_str);
    let number = port.and_then(|p| p.get("number")).filter(|n| !n.is_null());
    match (name.filter(|n| !n.is_empty()), number) {
        (Some(_), Some(_)) => invalid(
            &format!("{field}.service.port"),
            "",
            vec!["cannot set both port name & port number".into()],
            out,
        ),
        (Some(name), None) => invalid(
            &format!("{field}.service.port.name"),
            name,
            is_valid_port_name(name),
            out,
        ),
        (None, Some(number)) => {
            port_number(&format!("{field}.service.port.number"), Some(number), out);
        }
        (None, None) => required(&format!("{field}.service.port.name"), out),
    }
}
