//! Jobs: the pod template, its labels with the ones the job strategy adds, and the
//! restart policies a Job allows.

use super::cause::required;
use super::meta::validate_labels;
use super::pod::validate_pod_spec;
use crate::status::Cause;
use serde_json::Value;

pub(super) fn validate_job(obj: &Value, out: &mut Vec<Cause>) {
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
