//! Request routing: the path of a request as a [`Route`], either a discovery document or a
//! resource (namespace, name and subresource).

use crate::resources::{self, RESOURCES, ResourceDef};
use crate::status::ApiError;

/// What a path names.
#[derive(Debug)]
pub(super) enum Route {
    Version,
    CoreVersions,
    CoreResources,
    Groups,
    Group(String),
    GroupResources(String, String),
    Resource {
        def: &'static ResourceDef,
        ns: Option<String>,
        name: Option<String>,
        sub: Option<String>,
    },
}

pub(super) fn parse_path(path: &str) -> Result<Route, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["version"] => Ok(Route::Version),
        ["api"] => Ok(Route::CoreVersions),
        ["api", "v1"] => Ok(Route::CoreResources),
        ["apis"] => Ok(Route::Groups),
        ["apis", g] if RESOURCES.iter().any(|r| r.group == *g && !g.is_empty()) => {
            Ok(Route::Group(g.to_string()))
        }
        ["apis", g, v]
            if RESOURCES
                .iter()
                .any(|r| r.group == *g && r.version == *v && !g.is_empty()) =>
        {
            Ok(Route::GroupResources(g.to_string(), v.to_string()))
        }
        ["api", "v1", rest @ ..] => parse_rest("", "v1", rest),
        ["apis", g, v, rest @ ..] if !g.is_empty() => parse_rest(g, v, rest),
        _ => Err(ApiError::no_route()),
    }
}

fn parse_rest(group: &str, version: &str, rest: &[&str]) -> Result<Route, ApiError> {
    let res = |ns: Option<&str>, plural: &str, name: Option<&str>, sub: Option<&str>| {
        let def = resources::find(group, version, plural).ok_or_else(ApiError::no_route)?;
        if def.namespaced != ns.is_some() && !(def.namespaced && name.is_none()) {
            return Err(ApiError::no_route());
        }
        Ok(Route::Resource {
            def,
            ns: ns.map(str::to_string),
            name: name.map(str::to_string),
            sub: sub.map(str::to_string),
        })
    };
    match rest {
        ["namespaces", ns, plural, tail @ ..]
            if resources::find(group, version, plural).is_some_and(|d| d.namespaced) =>
        {
            match tail {
                [] => res(Some(ns), plural, None, None),
                [name] => res(Some(ns), plural, Some(name), None),
                [name, sub] => res(Some(ns), plural, Some(name), Some(sub)),
                _ => Err(ApiError::no_route()),
            }
        }
        [plural] => res(None, plural, None, None),
        [plural, name] => res(None, plural, Some(name), None),
        [plural, name, sub] => res(None, plural, Some(name), Some(sub)),
        _ => Err(ApiError::no_route()),
    }
}
