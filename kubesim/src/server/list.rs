//! Lists: label and field selectors as a filter (shared with watches), paging with
//! `limit` and `continue` keys, and the `List` document.

use super::wire::json_response;
use crate::Shared;
use crate::resources::ResourceDef;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::meta_str;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

pub(super) type Filter = Box<dyn Fn(&Value) -> bool + Send + Sync>;

pub(super) fn filter_from(
    def: &ResourceDef,
    q: &HashMap<String, String>,
) -> Result<Filter, ApiError> {
    let ls = LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))?;
    let fs = FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str), def.kind)?;
    Ok(Box::new(move |v: &Value| {
        ls.matches(v.pointer("/metadata/labels").and_then(Value::as_object)) && fs.matches(v)
    }))
}

pub(super) fn select(
    s: &Shared,
    def: &ResourceDef,
    ns: Option<&str>,
    q: &HashMap<String, String>,
) -> Result<(Vec<Arc<Value>>, u64), ApiError> {
    let f = filter_from(def, q)?;
    Ok(s.store.list(def, ns, &*f))
}

pub(super) fn list_doc(
    def: &ResourceDef,
    items: &[Arc<Value>],
    rv: u64,
    cont: Option<String>,
) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({
        "apiVersion": def.api_version(),
        "kind": format!("{}List", def.kind),
        "metadata": meta,
        "items": items.iter().map(|item| Value::clone(item)).collect::<Vec<_>>(),
    })
}

fn hex(s: &str) -> String {
    use std::fmt::Write as _;
    s.bytes()
        .fold(String::with_capacity(s.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

pub(super) fn list(
    s: &Shared,
    def: &ResourceDef,
    ns: Option<&str>,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let (mut items, rv) = select(s, def, ns, q)?;
    if let Some(c) = q.get("continue").filter(|c| !c.is_empty()) {
        let key = unhex(c).ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
        let (cns, cname) = key.split_once('/').unwrap_or(("", &key));
        items.retain(|v| (meta_str(v, "namespace"), meta_str(v, "name")) > (cns, cname));
    }
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let mut cont = None;
    if let Some(l) = limit
        && items.len() > l
    {
        items.truncate(l);
        if let Some(last) = items.last() {
            cont = Some(hex(&format!(
                "{}/{}",
                meta_str(last, "namespace"),
                meta_str(last, "name")
            )));
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &list_doc(def, &items, rv, cont),
    ))
}
