//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis` and each group and version,
//! from the table of served resources.

use super::route::Route;
use crate::resources::{RESOURCES, ResourceDef};
use serde_json::{Value, json};

fn api_resource(r: &ResourceDef) -> Vec<Value> {
    let verbs = json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ]);
    let mut out = vec![json!({
        "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
        "kind": r.kind, "verbs": verbs, "shortNames": r.short_names,
    })];
    if r.has_status {
        out.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}));
    }
    if r.plural == "pods" {
        out.push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
    }
    out
}

fn group_doc(g: &str) -> Value {
    let versions: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.group == g)
        .map(|r| r.version)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    json!({"name": g, "versions": versions.clone(), "preferredVersion": versions.first().cloned().unwrap_or(Value::Null)})
}

pub(super) fn discovery(route: &Route) -> Value {
    match route {
        Route::Version => json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-kubesim", "gitCommit": "kubesim",
            "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24",
            "compiler": "gc", "platform": "linux/amd64"
        }),
        Route::CoreVersions => {
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
        }
        Route::CoreResources => {
            let rs: Vec<Value> = RESOURCES
                .iter()
                .filter(|r| r.group.is_empty())
                .flat_map(api_resource)
                .collect();
            json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": rs})
        }
        Route::Groups => {
            let groups: Vec<Value> = RESOURCES
                .iter()
                .map(|r| r.group)
                .filter(|g| !g.is_empty())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(group_doc)
                .collect();
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        }
        Route::Group(g) => {
            let mut d = group_doc(g);
            d["kind"] = json!("APIGroup");
            d["apiVersion"] = json!("v1");
            d
        }
        Route::GroupResources(g, v) => {
            let rs: Vec<Value> = RESOURCES
                .iter()
                .filter(|r| r.group == g && r.version == v)
                .flat_map(api_resource)
                .collect();
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{g}/{v}"), "resources": rs})
        }
        Route::Resource { .. } => Value::Null,
    }
}
