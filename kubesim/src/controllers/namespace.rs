//! Namespace termination: after a configurable moment in `Terminating`, every contained
//! object is deleted (each with its DELETED event), then the namespace itself.

use crate::store::meta_str;
use crate::{Shared, resources};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;

/// Starts termination for a namespace that just became `Terminating` (once per uid).
pub(crate) fn on_namespace(s: &Arc<Shared>, ns: &Value, terminating: &mut HashSet<String>) {
    if ns.pointer("/status/phase").and_then(Value::as_str) != Some("Terminating") {
        return;
    }
    let uid = meta_str(ns, "uid").to_string();
    if !terminating.insert(uid.clone()) {
        return;
    }
    let name = meta_str(ns, "name").to_string();
    let s = s.clone();
    tokio::spawn(async move {
        tokio::time::sleep(s.config.namespace_termination_delay).await;
        // Creates are refused while Terminating, so one sweep empties the namespace.
        for (def, obj_name, _) in s.store.contents_of(&name) {
            let _ = s.store.delete(def, &name, &obj_name, None, None);
        }
        let _ = s
            .store
            .delete(resources::namespaces(), "", &name, Some(&uid), None);
    });
}
