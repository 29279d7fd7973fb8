//! The scheduler: binds every unscheduled pod to the single simulated node.

use crate::store::meta_str;
use crate::{NODE_NAME, Shared, resources};
use serde_json::{Value, json};

/// Sets `spec.nodeName` and the `PodScheduled` condition.
pub(crate) fn bind(s: &Shared, pod: &Value) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    s.store.mutate_uid(
        resources::pods(),
        meta_str(pod, "namespace"),
        meta_str(pod, "name"),
        meta_str(pod, "uid"),
        |o| {
            o["spec"]["nodeName"] = json!(NODE_NAME);
            o["status"]["conditions"] = json!([{
                "type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now,
            }]);
        },
    );
}
