//! Name, label and annotation rules ported from `k8s.io/apimachinery/pkg/util/validation`.

use std::collections::HashSet;

use crate::resources::{NameRule, ResourceDef};
use crate::status::Cause;
use serde_json::Value;

const DNS1123_LABEL_MAX: usize = 63;
const DNS1123_SUBDOMAIN_MAX: usize = 253;
const DNS1035_LABEL_MAX: usize = 63;
const QUALIFIED_NAME_MAX: usize = 63;
const LABEL_VALUE_MAX: usize = 63;

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn max_len_msg(n: usize) -> String {
    format!("must be no more than {n} characters")
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Matches `[a-z0-9]([-a-z0-9]*[a-z0-9])?` without length limit.
fn matches_dns1123_label_re(s: &str) -> bool {
    let first_last_ok = s.chars().next().is_some_and(is_lower_alnum)
        && s.chars().last().is_some_and(is_lower_alnum);
    first_last_ok && s.chars().all(|c| is_lower_alnum(c) || c == '-')
}

/// Port of `IsDNS1123Label` (k8s.io/apimachinery/pkg/util/validation): errors, empty when valid.
pub fn is_dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_LABEL_MAX {
        errs.push(max_len_msg(DNS1123_LABEL_MAX));
    }
    if !matches_dns1123_label_re(s) {
        errs.push(DNS1123_LABEL_MSG.to_string());
    }
    errs
}

/// Port of `IsDNS1123Subdomain` (k8s.io/apimachinery/pkg/util/validation).
pub fn is_dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(max_len_msg(DNS1123_SUBDOMAIN_MAX));
    }
    if !s.split('.').all(matches_dns1123_label_re) {
        errs.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    errs
}

/// Port of `IsDNS1035Label` (k8s.io/apimachinery/pkg/util/validation).
pub fn is_dns1035_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1035_LABEL_MAX {
        errs.push(max_len_msg(DNS1035_LABEL_MAX));
    }
    let ok = s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars().last().is_some_and(is_lower_alnum)
        && s.chars().all(|c| is_lower_alnum(c) || c == '-');
    if !ok {
        errs.push(DNS1035_LABEL_MSG.to_string());
    }
    errs
}

/// Matches `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
fn matches_qualified_name_part(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Port of `IsQualifiedName` (k8s.io/apimachinery/pkg/util/validation), the rule for label
/// and annotation keys: an optional DNS-1123 subdomain prefix and `/`, then a name part.
pub fn is_qualified_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = s.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    is_dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {QUALIFIED_NAME_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > QUALIFIED_NAME_MAX {
        errs.push(format!("name part {}", max_len_msg(QUALIFIED_NAME_MAX)));
    }
    if !name.is_empty() && !matches_qualified_name_part(name) {
        errs.push(QUALIFIED_NAME_MSG.to_string());
    }
    errs
}

/// Port of `IsValidLabelValue` (k8s.io/apimachinery/pkg/util/validation).
pub fn is_valid_label_value(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > LABEL_VALUE_MAX {
        errs.push(max_len_msg(LABEL_VALUE_MAX));
    }
    if !s.is_empty() && !matches_qualified_name_part(s) {
        errs.push(LABEL_VALUE_MSG.to_string());
    }
    errs
}

/// Port of `IsConfigMapKey` (k8s.io/apimachinery/pkg/util/validation), for ConfigMap and
/// Secret data keys.
pub fn is_config_map_key(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(max_len_msg(DNS1123_SUBDOMAIN_MAX));
    }
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        errs.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_string());
    }
    if s == "." || s == ".." || s.starts_with("..") {
        errs.push("must not be '.' or '..' and must not start with '..'".to_string());
    }
    errs
}

/// Port of `IsValidPortName` (k8s.io/apimachinery/pkg/util/validation), an IANA_SVC_NAME.
pub fn is_valid_port_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 15 {
        errs.push(max_len_msg(15));
    }
    if !s.chars().all(|c| is_lower_alnum(c) || c == '-') {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !s.chars().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".into());
    }
    if s.contains("--") {
        errs.push("must not contain consecutive hyphens".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        errs.push("must not begin or end with a hyphen".into());
    }
    errs
}

/// Longest Linux network interface name (`IFNAMSIZ` 16, less the terminating NUL).
pub const INTERFACE_NAME_MAX: usize = 15;

/// Port of the kernel's `dev_valid_name` (net/core/dev.c), the rule for network interface
/// names such as the bridge a bridge CNI `NetworkAttachmentDefinition` asks for: 1 to 15
/// bytes, not `.` or `..`, no `/`, `:` or whitespace. The API server does not check a NAD's
/// CNI config (it is an opaque string); the CNI plugin fails the pod's sandbox when this
/// rule is broken, so callers that build NADs check their bridge names with it.
pub fn is_valid_interface_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.is_empty() {
        errs.push("must not be empty".to_string());
    }
    if s.len() > INTERFACE_NAME_MAX {
        errs.push(max_len_msg(INTERFACE_NAME_MAX));
    }
    if s == "." || s == ".." {
        errs.push("must not be '.' or '..'".to_string());
    }
    // isspace() in the kernel is ASCII whitespace.
    if s.bytes()
        .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
    {
        errs.push("must not contain '/', ':' or whitespace".to_string());
    }
    errs
}

/// Port of `IsWildcardDNS1123Subdomain`: `*.` followed by a DNS-1123 subdomain.
pub fn is_wildcard_dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(max_len_msg(DNS1123_SUBDOMAIN_MAX));
    }
    let ok = s
        .strip_prefix("*.")
        .is_some_and(|rest| rest.split('.').all(matches_dns1123_label_re));
    if !ok {
        errs.push("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string());
    }
    errs
}

fn invalid(field: &str, value: &str, msgs: Vec<String>, out: &mut Vec<Cause>) {
    for m in msgs {
        out.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: \"{value}\": {m}"),
            field: field.into(),
        });
    }
}

fn required(field: &str, out: &mut Vec<Cause>) {
    out.push(Cause {
        reason: "FieldValueRequired".into(),
        message: "Required value".into(),
        field: field.into(),
    });
}

/// Validates the name against the resource's rule (`ValidateObjectMeta` name check).
pub fn validate_name(def: &ResourceDef, name: &str, out: &mut Vec<Cause>) {
    if name.is_empty() {
        out.push(Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value: name or generateName is required".into(),
            field: "metadata.name".into(),
        });
        return;
    }
    let errs = match def.name_rule {
        NameRule::Dns1123Label => is_dns1123_label(name),
        NameRule::Dns1035Label => is_dns1035_label(name),
        NameRule::Dns1123Subdomain => is_dns1123_subdomain(name),
    };
    invalid("metadata.name", name, errs, out);
}

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

/// Validates labels (`ValidateLabels` in k8s.io/apimachinery/pkg/apis/meta/v1/validation)
/// and annotation keys (`ValidateAnnotations` in k8s.io/apimachinery/pkg/api/validation).
pub fn validate_meta_maps(meta: &Value, out: &mut Vec<Cause>) {
    if let Some(labels) = meta.get("labels") {
        validate_labels(labels, "metadata.labels", out);
    }
    if let Some(ann) = meta.get("annotations").and_then(Value::as_object) {
        let mut total = 0usize;
        for (k, v) in ann {
            invalid(
                "metadata.annotations",
                k,
                is_qualified_name(&k.to_lowercase()),
                out,
            );
            total += k.len() + v.as_str().map_or(0, str::len);
        }
        // TotalAnnotationSizeLimitB in k8s.io/apimachinery/pkg/api/validation/objectmeta.go
        if total > 256 * 1024 {
            out.push(Cause {
                reason: "FieldValueTooLong".into(),
                message: "Too long: must have at most 262144 bytes".into(),
                field: "metadata.annotations".into(),
            });
        }
    }
}

/// `ValidateLabels` over a JSON map of labels (object metadata, a pod template, a
/// service selector), reporting under `field`.
fn validate_labels(labels: &Value, field: &str, out: &mut Vec<Cause>) {
    for (k, v) in labels.as_object().into_iter().flatten() {
        invalid(field, k, is_qualified_name(k), out);
        match v.as_str() {
            Some(v) => invalid(field, v, is_valid_label_value(v), out),
            None => invalid(field, &v.to_string(), vec!["must be a string".into()], out),
        }
    }
}

fn duplicate(field: &str, value: &str, out: &mut Vec<Cause>) {
    out.push(Cause {
        reason: "FieldValueDuplicate".into(),
        message: format!("Duplicate value: \"{value}\""),
        field: field.into(),
    });
}

fn not_found(field: &str, value: &str, out: &mut Vec<Cause>) {
    out.push(Cause {
        reason: "FieldValueNotFound".into(),
        message: format!("Not found: \"{value}\""),
        field: field.into(),
    });
}

fn port_number(field: &str, port: Option<&Value>, out: &mut Vec<Cause>) {
    let port = port.and_then(Value::as_i64).unwrap_or(0);
    if !(1..=65535).contains(&port) {
        invalid(
            field,
            &port.to_string(),
            vec!["must be between 1 and 65535, inclusive".into()],
            out,
        );
    }
}

/// Per-kind spec checks that matter for the simulation (a small subset of upstream).
pub fn validate_spec(def: &ResourceDef, obj: &Value, out: &mut Vec<Cause>) {
    match def.kind {
        "Pod" => validate_pod_spec(obj.get("spec"), "spec", out),
        "Job" => validate_job(obj, out),
        "ConfigMap" | "Secret" => {
            for field in ["data", "binaryData", "stringData"] {
                if let Some(m) = obj.get(field).and_then(Value::as_object) {
                    for k in m.keys() {
                        invalid(&format!("{field}[{k}]"), k, is_config_map_key(k), out);
                    }
                }
            }
        }
        "Service" => validate_service(obj, out),
        "Ingress" => validate_ingress(obj, out),
        _ => {}
    }
}

fn validate_job(obj: &Value, out: &mut Vec<Cause>) {
    let tpl = obj.pointer("/spec/template/spec");
    validate_pod_spec(tpl, "spec.template.spec", out);
    // The job strategy's Validate generates the selector first (generateSelector in
    // pkg/registry/batch/job/strategy.go), so the template's labels include the job name,
    // and ValidatePodTemplateSpec then checks them: a name longer than a label value is
    // refused here rather than by the pods' creation later.
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut labels = obj
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
    if let Some(map) = labels.as_object_mut() {
        for key in ["batch.kubernetes.io/job-name", "job-name"] {
            map.insert(key.into(), Value::String(name.into()));
        }
    }
    validate_labels(&labels, "spec.template.metadata.labels", out);
    // ValidateJobSpec: a Job's pods may only use Never or OnFailure.
    if let Some(rp) = tpl
        .and_then(|s| s.get("restartPolicy"))
        .and_then(Value::as_str)
        && rp != "Never"
        && rp != "OnFailure"
    {
        out.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: \"{rp}\": supported values: \"OnFailure\", \"Never\""
            ),
            field: "spec.template.spec.restartPolicy".into(),
        });
    } else if tpl.and_then(|s| s.get("restartPolicy")).is_none() {
        required("spec.template.spec.restartPolicy", out);
    }
}

/// Ports and selector of `ValidateService` (pkg/apis/core/validation).
fn validate_service(obj: &Value, out: &mut Vec<Cause>) {
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

/// Hosts and backends of `ValidateIngressSpec` (pkg/apis/networking/validation).
fn validate_ingress(obj: &Value, out: &mut Vec<Cause>) {
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

fn validate_pod_spec(spec: Option<&Value>, path: &str, out: &mut Vec<Cause>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_rules() {
        assert!(is_dns1123_label("abc-1").is_empty());
        assert!(!is_dns1123_label("-abc").is_empty());
        assert!(!is_dns1123_label("Abc").is_empty());
        assert!(!is_dns1123_label(&"a".repeat(64)).is_empty());
        assert!(is_dns1123_subdomain("a.b-c.d").is_empty());
        assert!(!is_dns1123_subdomain("a..b").is_empty());
        assert!(is_dns1035_label("a1").is_empty());
        assert!(!is_dns1035_label("1a").is_empty());
        assert!(is_qualified_name("example.com/My_name.x").is_empty());
        assert!(!is_qualified_name("/x").is_empty());
        assert!(!is_qualified_name("a/b/c").is_empty());
        assert!(!is_qualified_name(&"a".repeat(64)).is_empty());
        assert!(is_valid_label_value("").is_empty());
        assert!(!is_valid_label_value("-x").is_empty());
        assert!(is_valid_port_name("http-alt").is_empty());
        assert!(!is_valid_port_name("123").is_empty());
        assert!(is_valid_interface_name("ab0123456789abc").is_empty());
        assert!(!is_valid_interface_name("ab0123456789abcd").is_empty());
        assert!(!is_valid_interface_name("").is_empty());
        assert!(!is_valid_interface_name("..").is_empty());
        assert!(!is_valid_interface_name("br 0").is_empty());
        assert!(!is_valid_interface_name("br:0").is_empty());
        assert!(is_wildcard_dns1123_subdomain("*.example.com").is_empty());
        assert!(!is_wildcard_dns1123_subdomain("example.com").is_empty());
    }

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
