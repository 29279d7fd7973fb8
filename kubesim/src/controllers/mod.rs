//! The controller manager: one task that follows the store's event history and dispatches to
//! the scheduler, the job controller and namespace termination. Pods run on node agents
//! ([`crate::agent`]), which follow the API like any client.

pub mod job;
pub mod namespace;
pub mod scheduler;

use crate::Shared;
use crate::resources;
use crate::store::{Event, EventType, Since, meta_str};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;

/// Runs until aborted.
pub(crate) async fn run(s: Arc<Shared>) {
    let mut rx = s.store.subscribe();
    let mut cursor = 0u64;
    let mut terminating: HashSet<String> = HashSet::new();
    resync(&s, &mut terminating);
    loop {
        rx.borrow_and_update();
        match s.store.since(cursor) {
            Since::Gone => {
                // We fell behind the bounded history: rebuild from current state.
                cursor = s.store.current_rv();
                resync(&s, &mut terminating);
            }
            Since::Events(evs) if evs.is_empty() => {
                if rx.changed().await.is_err() {
                    return;
                }
            }
            Since::Events(evs) => {
                for e in evs {
                    cursor = e.rv;
                    handle(&s, &e, &mut terminating);
                }
            }
        }
    }
}

fn resync(s: &Arc<Shared>, terminating: &mut HashSet<String>) {
    schedule_pending(s);
    let (pods, _) = s.store.list(resources::pods(), None, &|_| true);
    for p in pods {
        on_pod(s, &p);
    }
    let (jobs, _) = s.store.list(resources::jobs(), None, &|_| true);
    for j in jobs {
        job::reconcile(s, meta_str(&j, "namespace"), meta_str(&j, "name"));
    }
    let (nss, _) = s.store.list(resources::namespaces(), None, &|_| true);
    for n in nss {
        namespace::on_namespace(s, &n, terminating);
    }
}

fn handle(s: &Arc<Shared>, e: &Event, terminating: &mut HashSet<String>) {
    match e.def().plural {
        "pods" => on_pod(s, &e.object),
        "jobs" if e.kind != EventType::Deleted => job::reconcile(s, e.namespace(), e.name()),
        // A node that registers (or becomes Ready) can take the pods waiting for one.
        "nodes" if e.kind != EventType::Deleted => schedule_pending(s),
        "namespaces" if e.kind == EventType::Deleted => {
            terminating.remove(meta_str(&e.object, "uid"));
        }
        "namespaces" => namespace::on_namespace(s, &e.object, terminating),
        _ => {}
    }
}

fn unscheduled(pod: &Value) -> bool {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
}

fn schedule_pending(s: &Shared) {
    let (pending, _) = s.store.list(resources::pods(), None, &unscheduled);
    for pod in pending {
        scheduler::bind(s, &pod);
    }
}

fn on_pod(s: &Arc<Shared>, pod: &Value) {
    if unscheduled(pod) && pod.pointer("/metadata/deletionTimestamp").is_none() {
        scheduler::bind(s, pod);
    }
    let owner_job = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|refs| {
            refs.iter()
                .find(|r| r.get("kind").and_then(Value::as_str) == Some("Job"))
        })
        .and_then(|r| r.get("name").and_then(Value::as_str));
    if let Some(job) = owner_job {
        job::reconcile(s, meta_str(pod, "namespace"), job);
    }
}
