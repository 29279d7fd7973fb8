//! One pod's life on the agent's node: from Pending through init containers to Running
//! with real listeners on its own 127.x address (or to completion for run-once pods),
//! with each step published to the API server as the pod's status, as a kubelet does.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::State;
use super::failure::{SIMULATOR_ERROR, is_simulator_error};
use super::port::{port_kind, serve_port};
use super::ssh::Site;
use super::workload::{Outcome, run_workload};
use crate::knobs::Behaviour;

/// Attempts at binding a pod's ports when the simulator is short of a resource.
const BIND_ATTEMPTS: u32 = 5;
/// Attempts at publishing a status through transient API errors.
const PUBLISH_ATTEMPTS: u32 = 8;

pub(super) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Local model of one container's status.
#[derive(Debug, Clone)]
struct Ctr {
    name: String,
    image: String,
    state: Value,
    last: Value,
    ready: bool,
    started: bool,
    restarts: u32,
}

impl Ctr {
    fn new(c: &Value, reason: &str) -> Self {
        let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        Self {
            name: field("name"),
            image: field("image"),
            state: json!({"waiting": {"reason": reason}}),
            last: json!({}),
            ready: false,
            started: false,
            restarts: 0,
        }
    }

    fn json(&self, uid: &str) -> Value {
        let mut v = json!({
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restarts,
            "state": self.state,
            "lastState": self.last,
        });
        if self.state.get("waiting").is_none() || self.restarts > 0 {
            v["containerID"] = json!(format!("kubesim://{uid}-{}", self.name));
            v["imageID"] = json!(format!("{}@sha256:kubesim", self.image));
        }
        v
    }

    fn running(&mut self, ready: bool) {
        self.state = json!({"running": {"startedAt": now()}});
        self.started = true;
        self.ready = ready;
    }

    fn terminated(&mut self, code: i32) {
        let reason = if code == 0 { "Completed" } else { "Error" };
        self.state = json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": now(), "finishedAt": now()}});
        self.started = false;
        self.ready = false;
    }

    /// Stopped by the simulator, not by the workload.
    fn failed_by_simulator(&mut self, message: &str) {
        self.state = json!({"terminated": {"exitCode": 128, "reason": SIMULATOR_ERROR, "message": message, "startedAt": now(), "finishedAt": now()}});
        self.started = false;
        self.ready = false;
    }
}

/// What is published about the pod at each step.
struct PodView {
    phase: &'static str,
    initialized: bool,
    ready: bool,
    pod_ip: Option<Ipv4Addr>,
    init: Vec<Ctr>,
    main: Vec<Ctr>,
    start_time: String,
    reason: Option<String>,
    message: Option<String>,
}

/// Writes a pod's status through the API, keeping each condition's transition time
/// while its value stays the same.
struct Publisher {
    api: Api<Pod>,
    name: String,
    uid: String,
    host_ip: Ipv4Addr,
    transitions: HashMap<&'static str, (bool, String)>,
}

impl Publisher {
    fn condition(&mut self, kind: &'static str, ok: bool) -> Value {
        let since = match self.transitions.get(kind) {
            Some((was, at)) if *was == ok => at.clone(),
            _ => {
                let at = now();
                self.transitions.insert(kind, (ok, at.clone()));
                at
            }
        };
        json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": since})
    }

    /// Publishes `v`; `false` when the pod is gone or was replaced (the task should end).
    async fn publish(&mut self, v: &PodView) -> bool {
        let conditions = vec![
            self.condition("PodReadyToStartContainers", v.pod_ip.is_some()),
            self.condition("Initialized", v.initialized),
            self.condition("Ready", v.ready),
            self.condition("ContainersReady", v.ready),
            self.condition("PodScheduled", true),
        ];
        let mut status = json!({
            "phase": v.phase,
            "hostIP": self.host_ip.to_string(),
            "hostIPs": [{"ip": self.host_ip.to_string()}],
            "startTime": v.start_time,
            "conditions": conditions,
            "containerStatuses": v.main.iter().map(|c| c.json(&self.uid)).collect::<Vec<_>>(),
        });
        if !v.init.is_empty() {
            status["initContainerStatuses"] = v.init.iter().map(|c| c.json(&self.uid)).collect();
        }
        if let Some(ip) = v.pod_ip {
            status["podIP"] = json!(ip.to_string());
            status["podIPs"] = json!([{"ip": ip.to_string()}]);
        }
        if let Some(reason) = &v.reason {
            status["reason"] = json!(reason);
        }
        if let Some(message) = &v.message {
            status["message"] = json!(message);
        }
        // `qosClass` is not here: the API server sets it at creation and refuses changes.
        // The uid makes the write conditional: a pod deleted and created again under the
        // same name is another pod, and the server answers 409.
        let patch = Patch::Merge(json!({"metadata": {"uid": self.uid}, "status": status}));
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=PUBLISH_ATTEMPTS {
            match self
                .api
                .patch_status(&self.name, &PatchParams::default(), &patch)
                .await
            {
                Ok(_) => return true,
                // Gone, or deleted and created again under this name (the uid no longer
                // matches: 422 on a real server, which refuses a changed uid).
                Err(kube::Error::Api(s))
                    if s.code == 404
                        || s.code == 409
                        || (s.code == 422 && s.message.contains("metadata.uid")) =>
                {
                    return false;
                }
                Err(kube::Error::Api(s)) if s.code < 500 && s.code != 429 => {
                    tracing::error!(pod = self.name, error = %s.message, "kubesim agent: the API server refused a pod status");
                    return true;
                }
                Err(e) if attempt < PUBLISH_ATTEMPTS => {
                    tracing::debug!(pod = self.name, error = %e, "kubesim agent: publishing status; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    tracing::warn!(pod = self.name, error = %e, "kubesim agent: giving up on a pod status");
                    return true;
                }
            }
        }
        true
    }
}

fn containers(spec: &Value, key: &str) -> Vec<Value> {
    spec.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn meta(pod: &Value, field: &str) -> String {
    pod.pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// Drives one pod from Pending to Running (or to completion) and then holds its listeners
/// until the task is aborted (pod deleted or agent stopped).
pub(super) async fn run_pod(s: Arc<State>, pod: Value) {
    let spec = pod.get("spec").cloned().unwrap_or(Value::Null);
    let init_specs = containers(&spec, "initContainers");
    let main_specs = containers(&spec, "containers");
    let images: Vec<String> = init_specs
        .iter()
        .chain(main_specs.iter())
        .filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_string))
        .collect();
    let name = meta(&pod, "name");
    let ns = meta(&pod, "namespace");
    let uid = meta(&pod, "uid");
    let behaviours = s.config.knobs.behaviours_for(&name, &images);
    let has = |f: &dyn Fn(&Behaviour) -> bool| behaviours.iter().any(f);
    let run_to_completion = spec.get("restartPolicy").and_then(Value::as_str) != Some("Always");
    let mut out = Publisher {
        api: Api::namespaced(s.client.clone(), &ns),
        name: name.clone(),
        uid: uid.clone(),
        host_ip: s.node_ip,
        transitions: HashMap::new(),
    };
    let mut v = PodView {
        phase: "Pending",
        initialized: init_specs.is_empty(),
        ready: false,
        pod_ip: None,
        init: init_specs
            .iter()
            .map(|c| Ctr::new(c, "PodInitializing"))
            .collect(),
        main: main_specs
            .iter()
            .map(|c| Ctr::new(c, "ContainerCreating"))
            .collect(),
        start_time: now(),
        reason: None,
        message: None,
    };
    let main_name = v.main.first().map(|c| c.name.clone()).unwrap_or_default();
    if !out.publish(&v).await {
        return;
    }
    let base = s.config.backoff_base;
    tokio::time::sleep(s.config.pod_start_delay).await;

    if has(&|b| *b == Behaviour::PullFailure) {
        for reason in ["ErrImagePull", "ImagePullBackOff"] {
            for c in &mut v.main {
                let image = c.image.clone();
                c.state = json!({"waiting": {"reason": reason, "message": format!("Failed to pull image \"{image}\": kubesim: simulated pull failure")}});
            }
            if !out.publish(&v).await {
                return;
            }
            tokio::time::sleep(base).await;
        }
        return std::future::pending().await;
    }

    for i in 0..v.init.len() {
        let cname = v.init[i].name.clone();
        s.logs.push(
            &uid,
            &cname,
            format!("kubesim: init container {cname} running"),
        );
        let fail = behaviours.iter().find_map(|b| match b {
            Behaviour::InitFailure { exit_code } => Some(*exit_code),
            _ => None,
        });
        if let Some(code) = fail {
            s.logs.push(&uid, &cname, format!("kubesim: init container {cname} failed with exit code {code} (InitFailure knob)"));
            v.init[i].terminated(code);
            if run_to_completion {
                v.phase = "Failed";
            }
            out.publish(&v).await;
            return;
        }
        v.init[i].terminated(0);
        s.logs.push(
            &uid,
            &cname,
            format!("kubesim: init container {cname} completed"),
        );
    }
    v.initialized = true;
    if !out.publish(&v).await {
        return;
    }

    let slow: Duration = behaviours
        .iter()
        .filter_map(|b| match b {
            Behaviour::SlowStart(d) => Some(*d),
            _ => None,
        })
        .sum();
    if !slow.is_zero() {
        tokio::time::sleep(slow).await;
    }

    let crash = has(&|b| *b == Behaviour::CrashLoop);
    // Ports each container listens on; crashing containers never get as far as listening.
    let mut ports: Vec<(u16, String, String)> = Vec::new();
    if !crash {
        for c in &main_specs {
            let cname = c.get("name").and_then(Value::as_str).unwrap_or("");
            for p in c
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                let Some(port) = p
                    .get("containerPort")
                    .and_then(Value::as_u64)
                    .and_then(|p| u16::try_from(p).ok())
                else {
                    continue;
                };
                if proto != "TCP"
                    || behaviours.contains(&Behaviour::PortNeverListens(port))
                    || ports.iter().any(|(q, _, _)| *q == port)
                {
                    continue;
                }
                let pname = p
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                ports.push((port, pname, cname.to_string()));
            }
        }
    }
    let numbers: Vec<u16> = ports.iter().map(|(p, _, _)| *p).collect();
    let mut attempt = 1;
    let (ip, listeners) = loop {
        match s.pod_addresses.bind_next(&s.listeners, &numbers) {
            Ok(bound) => break bound,
            Err((_, e)) if is_simulator_error(&e) && attempt < BIND_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(base * attempt).await;
            }
            Err((at, e)) => {
                let message = format!(
                    "kubesim agent on node {}: binding ports {numbers:?}{}: {e}",
                    s.config.node_name,
                    at.map(|ip| format!(" on {ip}")).unwrap_or_default()
                );
                tracing::warn!(pod = name, namespace = ns, "{message}");
                s.logs.push(
                    &uid,
                    &main_name,
                    format!("kubesim: simulator error: {message}"),
                );
                for c in &mut v.main {
                    c.failed_by_simulator(&message);
                }
                v.phase = "Failed";
                v.reason = Some(SIMULATOR_ERROR.to_owned());
                v.message = Some(message);
                out.publish(&v).await;
                return std::future::pending().await;
            }
        }
    };
    v.pod_ip = Some(ip);
    // The pod's SSH server accepts its image's login (the main containers' images; the
    // init containers' do not serve).
    let main_images: Vec<String> = main_specs
        .iter()
        .filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_string))
        .collect();
    let site = Arc::new(Site {
        endpoint: name.clone(),
        login: s.config.knobs.logins().for_images(&main_images),
        limits: s.config.shell_limits.clone(),
        config: s.ssh.clone(),
    });
    let mut serving = JoinSet::new();
    for l in listeners {
        let (pname, owner) = ports
            .iter()
            .find(|(p, _, _)| *p == l.port)
            .map(|(_, n, c)| (n.clone(), c.clone()))
            .unwrap_or_default();
        let kind = port_kind(l.port, &pname);
        s.logs.push(
            &uid,
            &owner,
            format!("kubesim: listening on {ip}:{} ({kind:?})", l.port),
        );
        serving.spawn(serve_port(l, kind, site.clone()));
    }

    if crash {
        v.phase = "Running";
        let mut backoff = base;
        loop {
            for c in &mut v.main {
                c.running(false);
            }
            if !out.publish(&v).await {
                return;
            }
            tokio::time::sleep(base / 2).await;
            s.logs.push(
                &uid,
                &main_name,
                "kubesim: simulated crash (CrashLoop knob): exiting with code 1",
            );
            for c in &mut v.main {
                c.terminated(1);
                c.last = c.state.clone();
                if !run_to_completion {
                    c.restarts += 1;
                    c.state = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off {}ms restarting failed container={} pod={name}", backoff.as_millis(), c.name)}});
                }
            }
            if run_to_completion {
                v.phase = "Failed";
                out.publish(&v).await;
                return;
            }
            if !out.publish(&v).await {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    v.phase = "Running";
    for c in &mut v.main {
        c.running(!run_to_completion);
    }
    v.ready = !run_to_completion;
    if !out.publish(&v).await {
        return;
    }
    if !run_to_completion {
        // Hold listeners until aborted.
        while serving.join_next().await.is_some() {}
        return std::future::pending().await;
    }

    let outcome = run_workload(&s, &pod, &main_specs, &behaviours, &uid, &main_name).await;
    drop(serving);
    match outcome {
        Outcome::Exited(code) => {
            for c in &mut v.main {
                c.terminated(code);
            }
            v.phase = if code == 0 { "Succeeded" } else { "Failed" };
        }
        Outcome::SimulatorError(message) => {
            tracing::warn!(pod = name, namespace = ns, "{message}");
            for c in &mut v.main {
                c.failed_by_simulator(&message);
            }
            v.phase = "Failed";
            v.reason = Some(SIMULATOR_ERROR.to_owned());
            v.message = Some(message);
        }
    }
    out.publish(&v).await;
}
