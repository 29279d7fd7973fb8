//! Container log lines the agent's pods print, by pod uid and container; kubesim serves
//! them as `pods/log` for the pods of its in-process agent.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::lock;

/// Every line of every container of every pod the agent runs.
#[derive(Debug, Default)]
pub struct LogBook(Mutex<HashMap<String, BTreeMap<String, Vec<String>>>>);

impl LogBook {
    /// Appends a line to a container's log.
    pub fn push(&self, uid: &str, container: &str, line: impl Into<String>) {
        lock(&self.0)
            .entry(uid.to_owned())
            .or_default()
            .entry(container.to_owned())
            .or_default()
            .push(line.into());
    }

    /// The lines a container of the pod with `uid` has printed.
    pub fn lines(&self, uid: &str, container: &str) -> Vec<String> {
        lock(&self.0)
            .get(uid)
            .and_then(|m| m.get(container))
            .cloned()
            .unwrap_or_default()
    }

    /// Forgets a pod's logs (it was deleted).
    pub fn forget(&self, uid: &str) {
        lock(&self.0).remove(uid);
    }
}
