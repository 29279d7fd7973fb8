//! The job controller: creates pods from the template, counts outcomes, retries up to
//! `backoffLimit`, and sets status counters, times and Complete / Failed conditions.

use crate::store::meta_str;
use crate::{Shared, resources, server};
use serde_json::{Value, json};

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn has_final_condition(job: &Value) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                matches!(
                    c.get("type").and_then(Value::as_str),
                    Some("Complete" | "Failed")
                ) && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

fn cond(t: &str, reason: &str, message: &str) -> Value {
    let now = now();
    json!({"type": t, "status": "True", "reason": reason, "message": message, "lastProbeTime": now, "lastTransitionTime": now})
}

/// Brings one Job towards its desired state.
pub(crate) fn reconcile(s: &Shared, ns: &str, name: &str) {
    let Ok(job) = s.store.get(resources::jobs(), ns, name) else {
        return;
    };
    if has_final_condition(&job) {
        return;
    }
    let uid = meta_str(&job, "uid").to_string();
    let (pods, _) = s.store.list(resources::pods(), Some(ns), &|p: &Value| {
        p.pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|rs| {
                rs.iter()
                    .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid.as_str()))
            })
    });
    let phase = |p: &Value| {
        p.pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("Pending")
            .to_string()
    };
    let count = |wanted: &str| {
        i64::try_from(pods.iter().filter(|p| phase(p) == wanted).count()).unwrap_or(i64::MAX)
    };
    let succeeded = count("Succeeded");
    let failed = count("Failed");
    let active: Vec<&Value> = pods
        .iter()
        .map(|p| &**p)
        .filter(|p| !matches!(phase(p).as_str(), "Succeeded" | "Failed"))
        .collect();
    let get = |k: &str, d: i64| {
        job.pointer(&format!("/spec/{k}"))
            .and_then(Value::as_i64)
            .unwrap_or(d)
    };
    let (completions, parallelism, backoff_limit) = (
        get("completions", 1),
        get("parallelism", 1),
        get("backoffLimit", 6),
    );

    let mut conditions: Vec<Value> = Vec::new();
    let mut active_n = i64::try_from(active.len()).unwrap_or(i64::MAX);
    let mut completion_time = None;
    if succeeded >= completions {
        conditions.push(cond(
            "SuccessCriteriaMet",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        ));
        conditions.push(cond(
            "Complete",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        ));
        completion_time = Some(now());
    } else if failed > backoff_limit {
        conditions.push(cond(
            "FailureTarget",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ));
        conditions.push(cond(
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ));
        for p in &active {
            let _ = s
                .store
                .delete(resources::pods(), ns, meta_str(p, "name"), None, None);
        }
        active_n = 0;
    } else {
        let want = parallelism.min(completions - succeeded) - active_n;
        for _ in 0..want.max(0) {
            if create_pod(s, &job, ns, name, &uid).is_ok() {
                active_n += 1;
            }
        }
    }
    let start = job
        .pointer("/status/startTime")
        .cloned()
        .unwrap_or_else(|| json!(now()));
    s.store.mutate_uid(resources::jobs(), ns, name, &uid, |o| {
        let st = &mut o["status"];
        st["startTime"] = start;
        for (k, n) in [
            ("active", active_n),
            ("succeeded", succeeded),
            ("failed", failed),
        ] {
            if n > 0 {
                st[k] = json!(n);
            } else if let Some(m) = st.as_object_mut() {
                m.remove(k);
            }
        }
        st["ready"] = json!(0);
        st["terminating"] = json!(0);
        if !conditions.is_empty() {
            st["conditions"] = json!(conditions);
        }
        if let Some(t) = completion_time {
            st["completionTime"] = json!(t);
        }
    });
}

fn create_pod(
    s: &Shared,
    job: &Value,
    ns: &str,
    name: &str,
    uid: &str,
) -> Result<std::sync::Arc<Value>, crate::status::ApiError> {
    let tpl = job
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut meta = tpl.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(m) = meta.as_object_mut() {
        m.remove("name");
        m.remove("namespace");
    }
    meta["generateName"] = json!(format!("{name}-"));
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", name),
        ("controller-uid", uid),
        ("job-name", name),
    ] {
        meta["labels"][k] = json!(v);
    }
    meta["ownerReferences"] = json!([{
        "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid,
        "controller": true, "blockOwnerDeletion": true,
    }]);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tpl.get("spec").cloned().unwrap_or(Value::Null)});
    server::create_internal(s, resources::pods(), ns, pod)
}
