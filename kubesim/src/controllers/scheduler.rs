//! The scheduler: binds every unscheduled pod to a Ready node, the nodes taken in turn;
//! without a Ready node the pod stays Pending until one registers.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::store::meta_str;
use crate::{Shared, resources};
use serde_json::{Value, json};

fn is_ready(node: &Value) -> bool {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        && node.pointer("/metadata/deletionTimestamp").is_none()
}

/// Sets `spec.nodeName` and the `PodScheduled` condition.
pub(crate) fn bind(s: &Shared, pod: &Value) {
    static TURN: AtomicUsize = AtomicUsize::new(0);
    let (mut nodes, _) = s.store.list(resources::nodes(), None, &is_ready);
    if nodes.is_empty() {
        return;
    }
    nodes.sort_by(|a, b| meta_str(a, "name").cmp(meta_str(b, "name")));
    let node = meta_str(
        &nodes[TURN.fetch_add(1, Ordering::Relaxed) % nodes.len()],
        "name",
    )
    .to_owned();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    s.store.mutate_uid(
        resources::pods(),
        meta_str(pod, "namespace"),
        meta_str(pod, "name"),
        meta_str(pod, "uid"),
        |o| {
            if o.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty()) {
                return;
            }
            o["spec"]["nodeName"] = json!(node);
            o["status"]["conditions"] = json!([{
                "type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now,
            }]);
        },
    );
}
