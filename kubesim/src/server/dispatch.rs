//! Dispatch of a request to its verb: the verb from method and route, subresource checks,
//! the knobs (request log, latency, hangs, injected errors) on the API's listener, and the
//! call to the verb's handler.

use super::discovery::discovery;
use super::list::{list, list_doc, select};
use super::log::pod_log;
use super::route::{Route, parse_path};
use super::verbs::{DeleteOpts, PatchRequest, create, delete, patch, update};
use super::watch::watch;
use super::wire::{is_true, json_response, parse_body, query_map};
use crate::Shared;
use crate::knobs::InjectedError;
use crate::status::ApiError;
use crate::store::meta_str;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use std::sync::Arc;

pub(super) async fn dispatch(
    s: &Arc<Shared>,
    simulator: bool,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let q = query_map(uri);
    let route = parse_path(uri.path())?;
    let (def, ns, name, sub) = match route {
        Route::Resource { def, ns, name, sub } => (def, ns, name, sub),
        other => {
            if method != Method::GET {
                return Err(ApiError::no_route());
            }
            return Ok(json_response(StatusCode::OK, &discovery(&other)));
        }
    };
    let verb = match (&method, name.is_some(), sub.as_deref()) {
        (&Method::GET, false, _) if is_true(&q, "watch") => "watch",
        (&Method::GET, false, _) => "list",
        (&Method::GET, true, _) => "get",
        (&Method::POST, false, _) => "create",
        (&Method::PUT, true, _) => "update",
        (&Method::PATCH, true, _) => "patch",
        (&Method::DELETE, true, None) => "delete",
        (&Method::DELETE, false, _) => "deletecollection",
        _ => {
            return Err(ApiError::method_not_allowed(
                def.group,
                def.plural,
                method.as_str(),
            ));
        }
    };
    if let Some(sub) = sub.as_deref() {
        let ok = (sub == "status" && def.has_status && matches!(verb, "get" | "update" | "patch"))
            || (sub == "log" && def.plural == "pods" && verb == "get");
        if !ok {
            return Err(ApiError::no_route());
        }
    }
    let resource = match &sub {
        Some(sub) => format!("{}/{sub}", def.plural),
        None => def.plural.to_string(),
    };
    if !simulator {
        s.knobs.record(verb, def.group, &resource);
        let delay = s.knobs.latency();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        s.knobs.wait_unless_hung(verb, &resource).await;
        match s.knobs.injected_error(verb) {
            Some(InjectedError::Internal) => {
                return Err(ApiError::internal("kubesim: injected internal error"));
            }
            Some(InjectedError::TooManyRequests { retry_after_s }) => {
                return Err(ApiError::too_many_requests(retry_after_s));
            }
            None => {}
        }
    }
    if q.get("dryRun").is_some_and(|v| !v.is_empty()) {
        return Err(ApiError::bad_request("kubesim does not support dryRun"));
    }
    let ns_s = ns.clone().unwrap_or_default();
    let name_s = name.clone().unwrap_or_default();
    match verb {
        "list" => list(s, def, ns.as_deref(), &q),
        "watch" => watch(s, def, ns.as_deref(), &q),
        "get" if sub.as_deref() == Some("log") => pod_log(s, &ns_s, &name_s, &q),
        "get" => Ok(json_response(
            StatusCode::OK,
            &*s.store.get(def, &ns_s, &name_s)?,
        )),
        "create" => {
            let obj = parse_body(headers, &body, def)?;
            let obj =
                crate::fields::apply(def.kind, q.get("fieldValidation").map(String::as_str), obj)?;
            let created = create(s, def, &ns_s, obj)?;
            Ok(json_response(StatusCode::CREATED, &created))
        }
        "update" => {
            let obj = parse_body(headers, &body, def)?;
            let obj =
                crate::fields::apply(def.kind, q.get("fieldValidation").map(String::as_str), obj)?;
            let status_only = sub.as_deref() == Some("status");
            Ok(json_response(
                StatusCode::OK,
                &*update(s, def, &ns_s, &name_s, obj, status_only)?,
            ))
        }
        "patch" => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let status_only = sub.as_deref() == Some("status");
            Ok(json_response(
                StatusCode::OK,
                &*patch(
                    s,
                    def,
                    &ns_s,
                    &name_s,
                    &PatchRequest {
                        content_type: ct,
                        body: &body,
                        field_validation: q.get("fieldValidation").map(String::as_str),
                    },
                    status_only,
                )?,
            ))
        }
        "delete" => {
            let opts = DeleteOpts::parse(&q, &body)?;
            delete(s, def, &ns_s, &name_s, &opts)
        }
        "deletecollection" => {
            let opts = DeleteOpts::parse(&q, &body)?;
            let (items, _) = select(s, def, ns.as_deref(), &q)?;
            let mut deleted = Vec::new();
            for it in items {
                let n = meta_str(&it, "name").to_string();
                let ns = meta_str(&it, "namespace").to_string();
                if delete(s, def, &ns, &n, &opts).is_ok() {
                    deleted.push(it);
                }
            }
            Ok(json_response(
                StatusCode::OK,
                &list_doc(def, &deleted, s.store.current_rv(), None),
            ))
        }
        _ => Err(ApiError::no_route()),
    }
}
