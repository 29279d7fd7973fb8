//! The write verbs: create (with ClusterIP allocation), update (with the immutable fields),
//! merge patch, delete with its options, and owner-reference garbage collection.

use super::admit::{fold_string_data, prepare_new};
use super::wire::json_response;
use crate::agent::address::{ListenerCount, SERVICE_RANGE, in_range};
use crate::resources::ResourceDef;
use crate::status::ApiError;
use crate::store::meta_str;
use crate::{Shared, validation};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Validates, defaults and stores an object without touching listeners (no ClusterIP
/// listeners are bound; use for namespaces and controller-made pods).
pub(crate) fn create_internal(
    s: &Shared,
    def: &ResourceDef,
    ns: &str,
    obj: Value,
) -> Result<Arc<Value>, ApiError> {
    let obj = prepare_new(s, def, ns, obj)?;
    store_new(s, def, ns, obj)
}

/// Stores a prepared object: a pod after quota admission, a quota then counted.
fn store_new(s: &Shared, def: &ResourceDef, ns: &str, obj: Value) -> Result<Arc<Value>, ApiError> {
    match def.kind {
        "Pod" => {
            let _admission = s
                .quota_admission
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            crate::quota::admit_pod(s, ns, &obj)?;
            let created = s.store.create(def, ns, obj)?;
            crate::quota::count(s, ns);
            Ok(created)
        }
        "ResourceQuota" | "LimitRange" => {
            crate::quota::check_quantities(def, &obj)?;
            let created = s.store.create(def, ns, obj)?;
            if def.kind == "ResourceQuota" {
                crate::quota::count(s, ns);
            }
            Ok(created)
        }
        _ => s.store.create(def, ns, obj),
    }
}

pub(super) fn create(
    s: &Arc<Shared>,
    def: &'static ResourceDef,
    ns: &str,
    obj: Value,
) -> Result<Arc<Value>, ApiError> {
    let mut obj = prepare_new(s, def, ns, obj)?;
    if def.kind != "Service" {
        return store_new(s, def, ns, obj);
    }
    let requested = obj
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if requested == "None" {
        obj["spec"]["clusterIPs"] = json!(["None"]);
        return s.store.create(def, ns, obj);
    }
    let ports: Vec<u16> = obj
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("port").and_then(Value::as_u64))
        .filter_map(|p| u16::try_from(p).ok())
        .collect();
    let ip = if requested.is_empty() {
        allocate_cluster_ip(s, &ports)?
    } else {
        match requested.parse::<std::net::Ipv4Addr>() {
            Ok(ip) if in_range(&SERVICE_RANGE, ip) => ip,
            _ => {
                return Err(ApiError::invalid(
                    def.group,
                    def.kind,
                    meta_str(&obj, "name"),
                    vec![crate::status::Cause {
                        reason: "FieldValueInvalid".into(),
                        message: format!(
                            "Invalid value: \"{requested}\": provided IP is not in the valid range. The range of valid IPs is 127.128.0.0-127.254.255.254 (kubesim)"
                        ),
                        field: "spec.clusterIP".into(),
                    }],
                ));
            }
        }
    };
    obj["spec"]["clusterIP"] = json!(ip.to_string());
    obj["spec"]["clusterIPs"] = json!([ip.to_string()]);
    s.store.create(def, ns, obj)
}

/// The next ClusterIP on which every port of the Service can be bound now. The probe's
/// listeners are closed at once: the node agent that serves the Service binds them.
fn allocate_cluster_ip(s: &Shared, ports: &[u16]) -> Result<std::net::Ipv4Addr, ApiError> {
    s.service_addresses
        .bind_next(&ListenerCount::default(), ports)
        .map(|(ip, _probe)| ip)
        .map_err(|(_, e)| ApiError::internal(format!("kubesim: allocating a ClusterIP: {e}")))
}

pub(super) fn update(
    s: &Shared,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    mut obj: Value,
    status_only: bool,
) -> Result<Arc<Value>, ApiError> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    let body_name = meta_str(&obj, "name");
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let body_ns = meta_str(&obj, "namespace");
    if def.namespaced && !body_ns.is_empty() && body_ns != ns {
        return Err(ApiError::bad_request(
            "the namespace of the object does not match the namespace on the request",
        ));
    }
    obj["apiVersion"] = json!(def.api_version());
    obj["kind"] = json!(def.kind);
    let mut causes = Vec::new();
    validation::validate_meta_maps(&obj["metadata"], &mut causes);
    if !status_only {
        validation::validate_spec(def, &obj, &mut causes);
    }
    if def.kind == "Secret" && !status_only {
        fold_string_data(&mut obj);
    }
    if !status_only && matches!(def.kind, "Pod" | "Job") {
        let old = s.store.get(def, ns, name)?;
        immutable_spec(def.kind, &old, &obj, &mut causes);
    }
    if def.kind == "Service" && !status_only {
        let old = s.store.get(def, ns, name)?;
        let old_ip = old
            .pointer("/spec/clusterIP")
            .cloned()
            .unwrap_or(Value::Null);
        match obj.pointer("/spec/clusterIP") {
            None | Some(Value::Null) => {
                obj["spec"]["clusterIP"] = old_ip.clone();
                obj["spec"]["clusterIPs"] = old
                    .pointer("/spec/clusterIPs")
                    .cloned()
                    .unwrap_or(Value::Null);
            }
            Some(v) if *v == old_ip => {}
            Some(v) => causes.push(crate::status::Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {v}: field is immutable"),
                field: "spec.clusterIP".into(),
            }),
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(def.group, def.kind, name, causes));
    }
    s.store.update(def, ns, name, obj, status_only)
}

/// The spec fields an update may not change: a Pod's spec but for images, active deadline
/// and tolerations (`ValidatePodUpdate`); a Job's pod template and selector
/// (`ValidateJobSpecUpdate`, for a job that is not suspended).
fn immutable_spec(kind: &str, old: &Value, new: &Value, causes: &mut Vec<crate::status::Cause>) {
    let spec = |v: &Value| v.get("spec").cloned().unwrap_or(Value::Null);
    match kind {
        "Pod" => {
            let mutable = |mut spec: Value| {
                for key in ["containers", "initContainers"] {
                    for c in spec
                        .get_mut(key)
                        .and_then(Value::as_array_mut)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(c) = c.as_object_mut() {
                            c.remove("image");
                        }
                    }
                }
                if let Some(o) = spec.as_object_mut() {
                    for key in ["activeDeadlineSeconds", "tolerations", "nodeName"] {
                        o.remove(key);
                    }
                }
                spec
            };
            if mutable(spec(old)) != mutable(spec(new)) {
                causes.push(crate::status::Cause {
                    reason: "FieldValueForbidden".into(),
                    message: "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)".into(),
                    field: "spec".into(),
                });
            }
        }
        "Job" => {
            let suspended = new.pointer("/spec/suspend") == Some(&json!(true));
            for field in ["template", "selector"] {
                let pointer = format!("/spec/{field}");
                if !suspended && old.pointer(&pointer) != new.pointer(&pointer) {
                    causes.push(crate::status::Cause {
                        reason: "FieldValueInvalid".into(),
                        message: "field is immutable".into(),
                        field: format!("spec.{field}"),
                    });
                }
            }
        }
        _ => {}
    }
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            if let Some(t) = target.as_object_mut() {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// A PATCH request's body and how to read it.
pub(super) struct PatchRequest<'a> {
    pub(super) content_type: &'a str,
    pub(super) body: &'a [u8],
    /// The `fieldValidation` query parameter.
    pub(super) field_validation: Option<&'a str>,
}

pub(super) fn patch(
    s: &Shared,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    request: &PatchRequest<'_>,
    status_only: bool,
) -> Result<Arc<Value>, ApiError> {
    let PatchRequest {
        content_type,
        body,
        field_validation,
    } = *request;
    let ct = content_type.split(';').next().unwrap_or("").trim();
    match ct {
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {}
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
            return Err(ApiError::unsupported_media_type(
                "server-side apply is not supported by kubesim; use a merge patch or update",
            ));
        }
        other => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (got {other:?}; JSON patch is not supported by kubesim)"
            )));
        }
    }
    let p: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })?;
    if !p.is_object() {
        return Err(ApiError::bad_request("a merge patch must be a JSON object"));
    }
    let pinned_rv = p.pointer("/metadata/resourceVersion").is_some();
    // Without a resourceVersion in the patch the write is unconditional: retry on races.
    let mut last = None;
    for _ in 0..5 {
        let mut cur = Arc::unwrap_or_clone(s.store.get(def, ns, name)?);
        merge_patch(&mut cur, &p);
        let cur = crate::fields::apply(def.kind, field_validation, cur)?;
        match update(s, def, ns, name, cur, status_only) {
            Err(e) if e.reason == "Conflict" && !pinned_rv => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| ApiError::internal("patch retries exhausted")))
}

#[derive(Debug, Default)]
pub(super) struct DeleteOpts {
    propagation: Option<String>,
    pre_uid: Option<String>,
    pre_rv: Option<String>,
}

impl DeleteOpts {
    pub(super) fn parse(q: &HashMap<String, String>, body: &[u8]) -> Result<Self, ApiError> {
        let mut o = Self {
            propagation: q.get("propagationPolicy").cloned(),
            ..Self::default()
        };
        if body.iter().any(|b| !b.is_ascii_whitespace()) {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?;
            if v.get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                return Err(ApiError::bad_request("kubesim does not support dryRun"));
            }
            if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
                o.propagation = Some(p.to_string());
            }
            if v.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
                o.propagation = Some("Orphan".into());
            }
            o.pre_uid = v
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_string);
            o.pre_rv = v
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        if let Some(p) = &o.propagation
            && !matches!(p.as_str(), "Orphan" | "Background" | "Foreground")
        {
            return Err(ApiError::bad_request(format!(
                "Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
        Ok(o)
    }
}

pub(super) fn delete(
    s: &Shared,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    opts: &DeleteOpts,
) -> Result<Response, ApiError> {
    if def.kind == "Namespace" {
        if matches!(name, "default" | "kube-system" | "kube-public") {
            return Err(ApiError::forbidden(
                "",
                "namespaces",
                name,
                "this namespace may not be deleted",
            ));
        }
        let cur = s.store.get(def, ns, name)?;
        if let Some(u) = &opts.pre_uid
            && u != meta_str(&cur, "uid")
        {
            return Err(ApiError::conflict(
                "",
                "namespaces",
                name,
                "Precondition failed: UID mismatch",
            ));
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let obj = s
            .store
            .mutate(def, "", name, |o| {
                if o.pointer("/metadata/deletionTimestamp").is_none() {
                    o["metadata"]["deletionTimestamp"] = json!(now);
                }
                o["status"]["phase"] = json!("Terminating");
            })
            .ok_or_else(|| ApiError::not_found("", "namespaces", name))?;
        return Ok(json_response(StatusCode::OK, &obj));
    }
    let deleted = s.store.delete(
        def,
        ns,
        name,
        opts.pre_uid.as_deref(),
        opts.pre_rv.as_deref(),
    )?;
    // pkg/registry/batch/job/strategy.go DefaultGarbageCollectionPolicy: batch/v1 Jobs orphan.
    let default_policy = if def.kind == "Job" {
        "Orphan"
    } else {
        "Background"
    };
    let policy = opts.propagation.as_deref().unwrap_or(default_policy);
    collect_garbage(s, ns, meta_str(&deleted, "uid"), policy == "Orphan");
    // The object is gone at once (no grace period, no finalizer): the answer is a Status.
    let mut status = crate::status::success_status();
    status["details"] = json!({
        "name": name,
        "group": def.group,
        "kind": def.plural,
        "uid": meta_str(&deleted, "uid"),
    });
    Ok(json_response(StatusCode::OK, &status))
}

/// Deletes (or orphans) the dependents of a deleted owner, recursively.
pub(crate) fn collect_garbage(s: &Shared, ns: &str, owner_uid: &str, orphan: bool) {
    let mut queue = VecDeque::from([owner_uid.to_string()]);
    while let Some(uid) = queue.pop_front() {
        for (def, name) in s.store.dependents_of(ns, &uid) {
            if orphan {
                s.store.mutate(def, ns, &name, |o| {
                    if let Some(refs) = o
                        .pointer_mut("/metadata/ownerReferences")
                        .and_then(Value::as_array_mut)
                    {
                        refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
                    }
                });
            } else if let Ok(d) = s.store.delete(def, ns, &name, None, None) {
                queue.push_back(meta_str(&d, "uid").to_string());
            }
        }
    }
}
