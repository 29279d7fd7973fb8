//! Name, label and annotation rules ported from `k8s.io/apimachinery/pkg/util/validation`.

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

/// Validates labels (`ValidateLabels` in k8s.io/apimachinery/pkg/apis/meta/v1/validation)
/// and annotation keys (`ValidateAnnotations` in k8s.io/apimachinery/pkg/api/validation).
pub fn validate_meta_maps(meta: &Value, out: &mut Vec<Cause>) {
    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (k, v) in labels {
            invalid("metadata.labels", k, is_qualified_name(k), out);
            match v.as_str() {
                Some(v) => invalid("metadata.labels", v, is_valid_label_value(v), out),
                None => invalid(
                    "metadata.labels",
                    &v.to_string(),
                    vec!["must be a string".into()],
                    out,
                ),
            }
        }
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

/// Per-kind spec checks that matter for the simulation (a small subset of upstream).
pub fn validate_spec(def: &ResourceDef, obj: &Value, out: &mut Vec<Cause>) {
    match def.kind {
        "Pod" => validate_pod_spec(obj.get("spec"), "spec", out),
        "Job" => {
            let tpl = obj.pointer("/spec/template/spec");
            validate_pod_spec(tpl, "spec.template.spec", out);
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
        "ConfigMap" | "Secret" => {
            for field in ["data", "binaryData", "stringData"] {
                if let Some(m) = obj.get(field).and_then(Value::as_object) {
                    for k in m.keys() {
                        invalid(&format!("{field}[{k}]"), k, is_config_map_key(k), out);
                    }
                }
            }
        }
        "Service" => {
            if let Some(ports) = obj.pointer("/spec/ports").and_then(Value::as_array) {
                for (i, p) in ports.iter().enumerate() {
                    let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
                    if !(1..=65535).contains(&port) {
                        invalid(
                            &format!("spec.ports[{i}].port"),
                            &port.to_string(),
                            vec!["must be between 1 and 65535, inclusive".into()],
                            out,
                        );
                    }
                }
            }
        }
        _ => {}
    }
}

fn validate_pod_spec(spec: Option<&Value>, path: &str, out: &mut Vec<Cause>) {
    let Some(spec) = spec else {
        required(path, out);
        return;
    };
    let containers = spec.get("containers").and_then(Value::as_array);
    if containers.is_none_or(|c| c.is_empty()) {
        required(&format!("{path}.containers"), out);
    }
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
                Some(n) => invalid(&format!("{base}.name"), n, is_dns1123_label(n), out),
                None => required(&format!("{base}.name"), out),
            }
            if c.get("image")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                required(&format!("{base}.image"), out);
            }
            for (j, p) in c
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let port = p.get("containerPort").and_then(Value::as_i64).unwrap_or(0);
                if !(1..=65535).contains(&port) {
                    invalid(
                        &format!("{base}.ports[{j}].containerPort"),
                        &port.to_string(),
                        vec!["must be between 1 and 65535, inclusive".into()],
                        out,
                    );
                }
                if let Some(n) = p.get("name").and_then(Value::as_str) {
                    invalid(
                        &format!("{base}.ports[{j}].name"),
                        n,
                        is_valid_port_name(n),
                        out,
                    );
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
    }
}
