//! Label selectors (equality and set-based) and field selectors, parsed from query strings.

use crate::status::ApiError;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<LabelReq>);

/// Splits at top-level commas (commas inside `( )` belong to set values).
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn bad(sel: &str) -> ApiError {
    ApiError::bad_request(format!(
        "unable to parse requirement: invalid label selector: {sel:?}"
    ))
}

fn parse_set(rest: &str, sel: &str) -> Result<Vec<String>, ApiError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| bad(sel))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn check_key(k: &str, sel: &str) -> Result<String, ApiError> {
    let k = k.trim();
    if k.is_empty() || !crate::validation::is_qualified_name(k).is_empty() {
        return Err(bad(sel));
    }
    Ok(k.to_string())
}

impl LabelSelector {
    /// Parses the `labelSelector` syntax of `k8s.io/apimachinery/pkg/labels.Parse`.
    pub fn parse(sel: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        if sel.trim().is_empty() {
            return Ok(Self(reqs));
        }
        for part in split_top(sel) {
            let p = part.trim();
            if p.is_empty() {
                return Err(bad(sel));
            }
            let req = if let Some(k) = p.strip_prefix('!') {
                LabelReq::NotExists(check_key(k, sel)?)
            } else if let Some((k, v)) = p.split_once("!=") {
                LabelReq::NotEq(check_key(k, sel)?, v.trim().to_string())
            } else if let Some((k, v)) = p.split_once("==") {
                LabelReq::Eq(check_key(k, sel)?, v.trim().to_string())
            } else if let Some((k, v)) = p.split_once('=') {
                LabelReq::Eq(check_key(k, sel)?, v.trim().to_string())
            } else if let Some(idx) = p.find(" notin ") {
                LabelReq::NotIn(check_key(&p[..idx], sel)?, parse_set(&p[idx + 7..], sel)?)
            } else if let Some(idx) = p.find(" in ") {
                LabelReq::In(check_key(&p[..idx], sel)?, parse_set(&p[idx + 4..], sel)?)
            } else if p.contains(|c: char| c.is_whitespace() || c == '(') {
                return Err(bad(sel));
            } else {
                LabelReq::Exists(check_key(p, sel)?)
            };
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }

    /// Builds a selector from a service's `spec.selector` map (equality on every pair).
    pub fn from_map(m: &serde_json::Map<String, Value>) -> Self {
        Self(
            m.iter()
                .filter_map(|(k, v)| Some(LabelReq::Eq(k.clone(), v.as_str()?.to_string())))
                .collect(),
        )
    }
}

/// A parsed field selector over the fields kubesim supports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

/// Which fields a resource supports in field selectors (a subset of upstream's per-kind lists).
fn supported(kind: &str, field: &str) -> bool {
    matches!(field, "metadata.name" | "metadata.namespace")
        || (kind == "Pod"
            && matches!(
                field,
                "status.phase" | "spec.nodeName" | "status.podIP" | "spec.restartPolicy"
            ))
        || (kind == "Namespace" && field == "status.phase")
        || (kind == "Secret" && field == "type")
        || (kind == "Job" && field == "status.successful")
        || (kind == "Event"
            && (field.starts_with("involvedObject.")
                || matches!(field, "reason" | "type" | "source")))
}

impl FieldSelector {
    /// Parses `a=b,c!=d` (also `==`); unsupported fields are a 400 like upstream.
    pub fn parse(sel: &str, kind: &str) -> Result<Self, ApiError> {
        let mut out = Vec::new();
        for part in sel.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector: {part:?}: missing operator"
                )));
            };
            let k = k.trim();
            if !supported(kind, k) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {k}"
                )));
            }
            out.push((k.to_string(), eq, v.trim().to_string()));
        }
        Ok(Self(out))
    }

    /// Whether the object satisfies every term.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(k, eq, v)| {
            let pointer = format!("/{}", k.replace('.', "/"));
            let actual = match obj.pointer(&pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (actual == *v) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_based() {
        let l = json!({"app": "web", "tier": "fe"});
        let m = l.as_object();
        let s = LabelSelector::parse("app in (web, db),tier notin (be),!gone,tier").unwrap();
        assert!(s.matches(m));
        assert!(!LabelSelector::parse("app!=web").unwrap().matches(m));
        assert!(LabelSelector::parse("app in (web").is_err());
    }
}
