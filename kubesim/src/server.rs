//! The HTTP front end: accept loop (with the unreachable switch), path parsing, the verbs,
//! watch streams, discovery documents, and create-time defaulting shared with controllers.

use crate::agent::address::{ListenerCount, SERVICE_RANGE, in_range};
use crate::knobs::InjectedError;
use crate::resources::{self, RESOURCES, ResourceDef};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{Since, meta_str};
use crate::{Shared, validation};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Which listener a request came in on.
#[derive(Clone)]
struct Front {
    shared: Arc<Shared>,
    /// The simulator's own listener: knobs and the request log do not apply.
    simulator: bool,
}

/// Serves the API until aborted. While the unreachable knob is on, the listener is closed
/// and every open connection dropped, so clients see connection refused.
pub(crate) async fn serve(shared: Arc<Shared>, listener: TcpListener, addr: SocketAddr) {
    let router = Router::new().fallback(handle).with_state(Front {
        shared: shared.clone(),
        simulator: false,
    });
    let mut want = shared.knobs.unreachable_want();
    let mut listener = Some(listener);
    let mut conns: JoinSet<()> = JoinSet::new();
    loop {
        let unreachable = *want.borrow_and_update();
        if unreachable {
            listener = None;
            conns.abort_all();
            while conns.join_next().await.is_some() {}
            shared.knobs.ack_unreachable(true);
            if want.wait_for(|v| !*v).await.is_err() {
                return;
            }
            continue;
        }
        let l = match &listener {
            Some(l) => l,
            None => match rebind(addr) {
                Ok(l) => listener.insert(l),
                Err(e) => {
                    tracing::warn!("kubesim: rebinding {addr}: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        shared.knobs.ack_unreachable(false);
        tokio::select! {
            r = l.accept() => {
                if let Ok((stream, _)) = r {
                    let svc = TowerToHyperService::new(router.clone());
                    conns.spawn(async move {
                        let conn = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc);
                        let _ = conn.await;
                    });
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            r = want.changed() => if r.is_err() { return },
        }
    }
}

/// Serves the API to the simulator's own clients (node agents) until aborted: no knob
/// applies and nothing is recorded.
pub(crate) async fn serve_simulator(shared: Arc<Shared>, listener: TcpListener) {
    let router = Router::new().fallback(handle).with_state(Front {
        shared,
        simulator: true,
    });
    let mut conns: JoinSet<()> = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    let svc = TowerToHyperService::new(router.clone());
                    conns.spawn(async move {
                        let conn = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc);
                        let _ = conn.await;
                    });
                }
                Err(e) => {
                    tracing::warn!("kubesim: accepting on the simulator listener: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

fn rebind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(1024)
}

/// What a path names.
#[derive(Debug)]
enum Route {
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

fn parse_path(path: &str) -> Result<Route, ApiError> {
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

fn query_map(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            url_decode_pairs(q)
                .into_iter()
                .collect::<HashMap<String, String>>()
        })
        .unwrap_or_default()
}

fn url_decode_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (pct_decode(k), pct_decode(v))
        })
        .collect()
}

fn pct_decode(s: &str) -> String {
    fn hexval(c: u8) -> Option<u8> {
        (c as char)
            .to_digit(16)
            .and_then(|digit| u8::try_from(digit).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hexval(bytes[i + 1]), hexval(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn is_true(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

async fn handle(
    State(front): State<Front>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match dispatch(&front.shared, front.simulator, method, &uri, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
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

fn parse_body(headers: &HeaderMap, body: &[u8], def: &ResourceDef) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if !ct.starts_with("application/json") && !ct.is_empty() {
        return Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json (got {ct})"
        )));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    if let Some(av) = v.get("apiVersion").and_then(Value::as_str)
        && av != def.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            def.api_version()
        )));
    }
    if let Some(k) = v.get("kind").and_then(Value::as_str)
        && k != def.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            def.kind
        )));
    }
    Ok(v)
}

const NAME_SUFFIX_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Validates and defaults a new object: name (or generateName), labels, spec, uid, and
/// per-kind defaults. Used by the API and by controllers that create objects.
pub(crate) fn prepare_new(
    s: &Shared,
    def: &ResourceDef,
    ns: &str,
    mut obj: Value,
) -> Result<Value, ApiError> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["apiVersion"] = json!(def.api_version());
    obj["kind"] = json!(def.kind);
    let body_ns = meta_str(&obj, "namespace");
    if def.namespaced && !body_ns.is_empty() && body_ns != ns {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if !meta_str(&obj, "resourceVersion").is_empty() {
        return Err(ApiError::internal(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let mut name = meta_str(&obj, "name").to_string();
    let gen_name = meta_str(&obj, "generateName").to_string();
    if name.is_empty() && !gen_name.is_empty() {
        // maxGeneratedNameLength in k8s.io/apiserver/pkg/storage/names: base cut to 58 chars.
        let base: String = gen_name.chars().take(58).collect();
        let suffix: String = (0..5)
            .map(|_| {
                let pick = s.knobs.rng_range(0, NAME_SUFFIX_CHARS.len() as u64);
                NAME_SUFFIX_CHARS[usize::try_from(pick).unwrap_or(0)] as char
            })
            .collect();
        name = format!("{base}{suffix}");
        obj["metadata"]["name"] = json!(name);
    }
    let causes = validation::validate_new_object(def, &obj);
    if !causes.is_empty() {
        return Err(ApiError::invalid(def.group, def.kind, &name, causes));
    }
    let uid = uuid::Builder::from_random_bytes(s.knobs.rng_bytes()).into_uuid();
    if let Some(m) = obj["metadata"].as_object_mut() {
        m.insert("uid".into(), json!(uid.to_string()));
        for f in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.remove(f);
        }
    }
    if def.has_status
        && let Some(o) = obj.as_object_mut()
    {
        o.remove("status");
    }
    apply_defaults(def, &mut obj, &name, &uid.to_string());
    Ok(obj)
}

fn apply_defaults(def: &ResourceDef, obj: &mut Value, name: &str, uid: &str) {
    match def.kind {
        "Namespace" => {
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
        }
        "Pod" => {
            default_pod_spec(&mut obj["spec"]);
            // Admission (ServiceAccount, Priority) fills these in on a real server.
            let spec = &mut obj["spec"];
            if spec.is_object() {
                let account = spec
                    .get("serviceAccountName")
                    .cloned()
                    .unwrap_or(json!("default"));
                spec["serviceAccountName"] = account.clone();
                spec["serviceAccount"] = account;
                for (k, v) in [
                    ("priority", json!(0)),
                    ("preemptionPolicy", json!("PreemptLowerPriority")),
                ] {
                    if spec.get(k).is_none() {
                        spec[k] = v;
                    }
                }
            }
            let qos = qos_class(&obj["spec"]);
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        "Service" => {
            let spec = &mut obj["spec"];
            for (k, v) in [
                ("type", json!("ClusterIP")),
                ("sessionAffinity", json!("None")),
                ("internalTrafficPolicy", json!("Cluster")),
                ("ipFamilies", json!(["IPv4"])),
                ("ipFamilyPolicy", json!("SingleStack")),
            ] {
                if spec.get(k).is_none() {
                    spec[k] = v;
                }
            }
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    if p.get("protocol").is_none() {
                        p["protocol"] = json!("TCP");
                    }
                    if p.get("targetPort").is_none() {
                        p["targetPort"] = p["port"].clone();
                    }
                }
            }
            obj["status"] = json!({"loadBalancer": {}});
        }
        "Ingress" => {
            obj["status"] = json!({"loadBalancer": {}});
        }
        "Secret" => fold_string_data(obj),
        "Job" => {
            let spec = &mut obj["spec"];
            for (k, v) in [
                ("backoffLimit", json!(6)),
                ("completions", json!(1)),
                ("parallelism", json!(1)),
                ("completionMode", json!("NonIndexed")),
                ("suspend", json!(false)),
                ("manualSelector", json!(false)),
                ("podReplacementPolicy", json!("TerminatingOrFailed")),
            ] {
                if spec.get(k).is_none() {
                    spec[k] = v;
                }
            }
            // pkg/registry/batch/job/strategy.go generateSelector: the template gets these.
            let labels = [
                ("batch.kubernetes.io/controller-uid", uid),
                ("batch.kubernetes.io/job-name", name),
                ("controller-uid", uid),
                ("job-name", name),
            ];
            for (k, v) in labels {
                spec["template"]["metadata"]["labels"][k] = json!(v);
            }
            if spec.get("selector").is_none() {
                spec["selector"] =
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
            }
            default_pod_spec(&mut spec["template"]["spec"]);
            obj["status"] = json!({});
        }
        _ => {}
    }
}

/// `stringData` is write-only: the server merges it into `data` (base64) and drops it;
/// `type` defaults to `Opaque`.
pub(crate) fn fold_string_data(obj: &mut Value) {
    use base64::Engine as _;
    let string_data = obj
        .as_object_mut()
        .and_then(|o| o.remove("stringData"))
        .and_then(|v| v.as_object().cloned());
    for (k, v) in string_data.into_iter().flatten() {
        let text = v.as_str().unwrap_or_default();
        obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
    if obj.get("type").is_none() {
        obj["type"] = json!("Opaque");
    }
}

/// The pod's QoS class from its containers' requests and limits: none anywhere is
/// BestEffort; cpu and memory limits on every container, with requests equal to them, is
/// Guaranteed; anything else Burstable.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .collect();
    let resources = |c: &Value, kind: &str| {
        c.pointer(&format!("/resources/{kind}"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let any = containers
        .iter()
        .any(|c| !resources(c, "requests").is_empty() || !resources(c, "limits").is_empty());
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let (requests, limits) = (resources(c, "requests"), resources(c, "limits"));
        ["cpu", "memory"].iter().all(|r| {
            limits.contains_key(*r) && requests.get(*r).is_none_or(|q| Some(q) == limits.get(*r))
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    let defaults = [
        ("restartPolicy", json!("Always")),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("enableServiceLinks", json!(true)),
        ("securityContext", json!({})),
    ];
    for (k, v) in defaults {
        if spec.get(k).is_none() {
            spec[k] = v;
        }
    }
    for key in ["initContainers", "containers"] {
        for c in spec
            .get_mut(key)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for (k, v) in [
                ("terminationMessagePath", json!("/dev/termination-log")),
                ("terminationMessagePolicy", json!("File")),
            ] {
                if c.get(k).is_none() {
                    c[k] = v;
                }
            }
        }
    }
}

/// Validates, defaults and stores an object without touching listeners (no ClusterIP
/// listeners are bound; use for namespaces and controller-made pods).
pub(crate) fn create_internal(
    s: &Shared,
    def: &ResourceDef,
    ns: &str,
    obj: Value,
) -> Result<Arc<Value>, ApiError> {
    let obj = prepare_new(s, def, ns, obj)?;
    s.store.create(def, ns, obj)
}

fn create(
    s: &Arc<Shared>,
    def: &'static ResourceDef,
    ns: &str,
    obj: Value,
) -> Result<Arc<Value>, ApiError> {
    let mut obj = prepare_new(s, def, ns, obj)?;
    if def.kind != "Service" {
        return s.store.create(def, ns, obj);
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

fn update(
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
struct PatchRequest<'a> {
    content_type: &'a str,
    body: &'a [u8],
    /// The `fieldValidation` query parameter.
    field_validation: Option<&'a str>,
}

fn patch(
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
struct DeleteOpts {
    propagation: Option<String>,
    pre_uid: Option<String>,
    pre_rv: Option<String>,
}

impl DeleteOpts {
    fn parse(q: &HashMap<String, String>, body: &[u8]) -> Result<Self, ApiError> {
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

fn delete(
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

type Filter = Box<dyn Fn(&Value) -> bool + Send + Sync>;

fn filter_from(def: &ResourceDef, q: &HashMap<String, String>) -> Result<Filter, ApiError> {
    let ls = LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))?;
    let fs = FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str), def.kind)?;
    Ok(Box::new(move |v: &Value| {
        ls.matches(v.pointer("/metadata/labels").and_then(Value::as_object)) && fs.matches(v)
    }))
}

fn select(
    s: &Shared,
    def: &ResourceDef,
    ns: Option<&str>,
    q: &HashMap<String, String>,
) -> Result<(Vec<Arc<Value>>, u64), ApiError> {
    let f = filter_from(def, q)?;
    Ok(s.store.list(def, ns, &*f))
}

fn list_doc(def: &ResourceDef, items: &[Arc<Value>], rv: u64, cont: Option<String>) -> Value {
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

fn list(
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

fn pod_log(
    s: &Shared,
    ns: &str,
    name: &str,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let pod = s.store.get(resources::pods(), ns, name)?;
    let containers: Vec<String> = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| {
            pod.pointer(&format!("/spec/{k}"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let main: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let container = match q.get("container") {
        Some(c) if containers.contains(c) => c.clone(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if main.len() == 1 => main[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                main.join(" ")
            )));
        }
    };
    let mut lines = s.logs.lines(meta_str(&pod, "uid"), &container);
    if let Some(t) = q.get("tailLines").and_then(|t| t.parse::<usize>().ok()) {
        let skip = lines.len().saturating_sub(t);
        lines.drain(..skip);
    }
    let mut body = lines.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], body).into_response())
}

fn watch_line(kind: &str, obj: &Value) -> Bytes {
    // Serialised in place: `json!` would first deep-copy the object into a new tree, once
    // per event and watcher.
    #[derive(serde::Serialize)]
    struct Line<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        object: &'a Value,
    }
    let mut line = serde_json::to_vec(&Line { kind, object: obj }).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn bookmark(def: &ResourceDef, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    watch_line(
        "BOOKMARK",
        &json!({"apiVersion": def.api_version(), "kind": def.kind, "metadata": meta}),
    )
}

struct WatchState {
    shared: Arc<Shared>,
    def: &'static ResourceDef,
    ns: Option<String>,
    filter: Filter,
    cursor: u64,
    pending: VecDeque<Bytes>,
    rx: watch::Receiver<u64>,
    deadline: tokio::time::Instant,
    bookmarks: bool,
    next_bookmark: tokio::time::Instant,
    done: bool,
}

impl WatchState {
    fn wants(&self, e: &crate::store::Event) -> bool {
        std::ptr::eq(e.def(), self.def)
            && self.ns.as_deref().is_none_or(|n| n == e.namespace())
            && (self.filter)(&e.object)
    }

    fn gone(&mut self, rv: u64) {
        let st = ApiError::gone(format!(
            "too old resource version: {rv} ({})",
            self.shared.store.current_rv()
        ));
        self.pending.push_back(watch_line("ERROR", &st.to_status()));
        self.done = true;
    }

    fn catch_up(&mut self) {
        self.rx.borrow_and_update();
        match self.shared.store.since(self.cursor) {
            Since::Gone => {
                let rv = self.cursor;
                self.gone(rv);
            }
            Since::Events(evs) => {
                for e in evs {
                    self.cursor = e.rv;
                    if self.wants(&e) {
                        self.pending
                            .push_back(watch_line(e.kind.as_str(), &e.object));
                    }
                }
            }
        }
    }

    async fn next(mut self) -> Option<(Result<Bytes, std::convert::Infallible>, Self)> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Some((Ok(b), self));
            }
            if self.done {
                return None;
            }
            self.catch_up();
            if !self.pending.is_empty() {
                continue;
            }
            let bookmarks = self.bookmarks;
            tokio::select! {
                () = tokio::time::sleep_until(self.deadline) => return None,
                () = tokio::time::sleep_until(self.next_bookmark), if bookmarks => {
                    self.next_bookmark += self.shared.config.bookmark_interval;
                    self.pending.push_back(bookmark(self.def, self.cursor, false));
                }
                r = self.rx.changed() => if r.is_err() { return None },
            }
        }
    }
}

fn watch(
    s: &Arc<Shared>,
    def: &'static ResourceDef,
    ns: Option<&str>,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let filter = filter_from(def, q)?;
    let rv_param = q.get("resourceVersion").map_or("", String::as_str);
    let send_initial = is_true(q, "sendInitialEvents");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .unwrap_or(1800);
    let now = tokio::time::Instant::now();
    let mut st = WatchState {
        shared: s.clone(),
        def,
        ns: ns.map(str::to_string),
        filter,
        cursor: 0,
        pending: VecDeque::new(),
        rx: s.store.subscribe(),
        deadline: now + Duration::from_secs(timeout),
        bookmarks: is_true(q, "allowWatchBookmarks"),
        next_bookmark: now + s.config.bookmark_interval,
        done: false,
    };
    if rv_param.is_empty() || rv_param == "0" || send_initial {
        // Start from "now": synthetic ADDED for the current state, then live events.
        let (items, rv) = s.store.list(def, ns, &*st.filter);
        for it in &items {
            st.pending.push_back(watch_line("ADDED", it));
        }
        if send_initial {
            st.pending.push_back(bookmark(def, rv, true));
        }
        st.cursor = rv;
    } else {
        let rv: u64 = rv_param.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid resource version: {rv_param:?}"))
        })?;
        st.cursor = rv;
        if matches!(s.store.since(rv), Since::Gone) {
            st.gone(rv);
        }
    }
    let stream = futures::stream::unfold(st, WatchState::next);
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| ApiError::internal("building watch response").into_response()))
}

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

fn discovery(route: &Route) -> Value {
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
