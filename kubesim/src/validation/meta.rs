//! Object metadata: the name against its resource's rule, labels and annotations.

use super::cause::invalid;
use super::rules::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_label_value,
};
use crate::resources::{NameRule, ResourceDef};
use crate::status::Cause;
use serde_json::Value;

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
pub(super) fn validate_labels(labels: &Value, field: &str, out: &mut Vec<Cause>) {
    for (k, v) in labels.as_object().into_iter().flatten() {
        invalid(field, k, is_qualified_name(k), out);
        match v.as_str() {
            Some(v) => invalid(field, v, is_valid_label_value(v), out),
            None => invalid(field, &v.to_string(), vec!["must be a string".into()], out),
        }
    }
}
