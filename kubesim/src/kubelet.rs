//! The simulated kubelet and kube-proxy: 127/8 address allocation, per-pod lifecycle tasks
//! with real listeners on declared ports, configuration-job connections, pod logs, and
//! ClusterIP proxying to ready backends.

use crate::Shared;
use crate::knobs::{Behaviour, Knobs};
use crate::resources;
use crate::selector::LabelSelector;
use crate::store::meta_str;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// First address kubesim hands out: 127.1.0.0 (127.0.0.0/16 is left to real local services).
const RANGE_START: u32 = u32::from_be_bytes([127, 1, 0, 0]);
/// One past the last address: 127.255.0.0.
const RANGE_END: u32 = u32::from_be_bytes([127, 255, 0, 0]);
/// Bind attempts before giving up on finding a free address.
const BIND_ATTEMPTS: usize = 512;
/// How long idle simulated connections are held open.
const IDLE_CONN: Duration = Duration::from_secs(120);

/// Whether `ip` is in the range kubesim allocates pod and service addresses from.
pub fn is_sim_address(ip: Ipv4Addr) -> bool {
    let n = u32::from(ip);
    let last = ip.octets()[3];
    (RANGE_START..RANGE_END).contains(&n) && last != 0 && last != 255
}

struct CountGuard(Arc<AtomicUsize>);

impl Drop for CountGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A bound listener that is counted while alive.
pub struct BoundListener {
    port: u16,
    listener: TcpListener,
    _guard: CountGuard,
}

type Logs = BTreeMap<String, Vec<String>>;

/// Per-instance kubelet state.
pub struct Kubelet {
    next_ip: Mutex<u32>,
    node_ip: Ipv4Addr,
    pods: Mutex<HashMap<String, JoinHandle<()>>>,
    services: Mutex<HashMap<String, JoinHandle<()>>>,
    logs: Mutex<HashMap<String, Logs>>,
    job_attempts: Mutex<HashMap<(String, String), u32>>,
    listeners: Arc<AtomicUsize>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoning only follows a panic elsewhere; the maps stay usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortKind {
    Ssh,
    Http,
    Tcp,
}

fn port_kind(port: u16, name: &str) -> PortKind {
    match port {
        22 => PortKind::Ssh,
        80 | 443 | 3000 | 8080 | 8888 => PortKind::Http,
        _ if name.starts_with("http") => PortKind::Http,
        _ => PortKind::Tcp,
    }
}

impl Kubelet {
    pub(crate) fn new(knobs: &Knobs) -> Self {
        // A random base per instance keeps concurrent test processes apart; collisions that
        // remain are caught by EADDRINUSE at bind time.
        // Same-seed instances in parallel test processes must not start on the same address,
        // so the seeded draw is salted with the process id and an instance counter.
        static INSTANCES: AtomicUsize = AtomicUsize::new(0);
        let span = (RANGE_END - RANGE_START) as u64;
        let salt = u64::from(std::process::id()) * 7_919
            + INSTANCES.fetch_add(1, Ordering::Relaxed) as u64 * 104_729;
        let base = RANGE_START + ((knobs.rng_range(0, span) + salt * 256) % span) as u32;
        let mut k = Self {
            next_ip: Mutex::new(base),
            node_ip: Ipv4Addr::new(127, 1, 0, 1),
            pods: Mutex::default(),
            services: Mutex::default(),
            logs: Mutex::default(),
            job_attempts: Mutex::default(),
            listeners: Arc::new(AtomicUsize::new(0)),
        };
        k.node_ip = k.next_address();
        k
    }

    fn next_address(&self) -> Ipv4Addr {
        let mut n = lock(&self.next_ip);
        loop {
            let ip = Ipv4Addr::from(*n);
            *n += 1;
            if *n >= RANGE_END {
                *n = RANGE_START;
            }
            if is_sim_address(ip) {
                return ip;
            }
        }
    }

    /// Number of pod and service listeners currently bound.
    pub fn listener_count(&self) -> usize {
        self.listeners.load(Ordering::Relaxed)
    }

    fn try_bind(
        &self,
        ip: Ipv4Addr,
        ports: &[(u16, String)],
    ) -> std::io::Result<Vec<(BoundListener, String)>> {
        let mut out = Vec::with_capacity(ports.len());
        for (port, name) in ports {
            let sock = tokio::net::TcpSocket::new_v4()?;
            sock.set_reuseaddr(true)?;
            sock.bind(SocketAddr::from((ip, *port)))?;
            let listener = sock.listen(1024)?;
            self.listeners.fetch_add(1, Ordering::Relaxed);
            out.push((
                BoundListener {
                    port: *port,
                    listener,
                    _guard: CountGuard(self.listeners.clone()),
                },
                name.clone(),
            ));
        }
        Ok(out)
    }

    /// Picks an address (or uses `want`) and binds every port on it, moving on to the next
    /// address when one is taken by another process.
    pub(crate) async fn bind_address(
        &self,
        want: Option<Ipv4Addr>,
        ports: &[u16],
    ) -> std::io::Result<(Ipv4Addr, Vec<BoundListener>)> {
        let named: Vec<(u16, String)> = ports.iter().map(|p| (*p, String::new())).collect();
        let (ip, ls) = self.bind_named(want, &named)?;
        Ok((ip, ls.into_iter().map(|(l, _)| l).collect()))
    }

    fn bind_named(
        &self,
        want: Option<Ipv4Addr>,
        ports: &[(u16, String)],
    ) -> std::io::Result<(Ipv4Addr, Vec<(BoundListener, String)>)> {
        let mut ports = ports.to_vec();
        ports.sort();
        ports.dedup_by_key(|p| p.0);
        if let Some(ip) = want {
            return Ok((ip, self.try_bind(ip, &ports)?));
        }
        let mut last_err = None;
        for _ in 0..BIND_ATTEMPTS {
            let ip = self.next_address();
            match self.try_bind(ip, &ports) {
                Ok(ls) => return Ok((ip, ls)),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::other("no free address")))
    }

    pub(crate) fn is_tracking(&self, uid: &str) -> bool {
        lock(&self.pods).contains_key(uid)
    }

    pub(crate) fn start_pod(&self, shared: Arc<Shared>, pod: Value) {
        let uid = meta_str(&pod, "uid").to_string();
        let mut pods = lock(&self.pods);
        if pods.contains_key(&uid) {
            return;
        }
        pods.insert(uid, tokio::spawn(run_pod(shared, pod)));
    }

    pub(crate) fn stop_pod(&self, uid: &str) {
        if let Some(t) = lock(&self.pods).remove(uid) {
            t.abort();
        }
        lock(&self.logs).remove(uid);
    }

    pub(crate) fn start_service(
        &self,
        shared: Arc<Shared>,
        svc: &Value,
        _ip: Ipv4Addr,
        listeners: Vec<BoundListener>,
    ) {
        let uid = meta_str(svc, "uid").to_string();
        let ns = meta_str(svc, "namespace").to_string();
        let name = meta_str(svc, "name").to_string();
        let task_uid = uid.clone();
        let task = tokio::spawn(async move {
            let mut set = JoinSet::new();
            for l in listeners {
                set.spawn(proxy_port(
                    shared.clone(),
                    ns.clone(),
                    name.clone(),
                    task_uid.clone(),
                    l,
                ));
            }
            while set.join_next().await.is_some() {}
        });
        if let Some(old) = lock(&self.services).insert(uid, task) {
            old.abort();
        }
    }

    pub(crate) fn stop_service(&self, uid: &str) {
        if let Some(t) = lock(&self.services).remove(uid) {
            t.abort();
        }
    }

    fn log(&self, uid: &str, container: &str, line: impl Into<String>) {
        lock(&self.logs)
            .entry(uid.to_string())
            .or_default()
            .entry(container.to_string())
            .or_default()
            .push(line.into());
    }

    /// Lines a container of the pod with `uid` has printed.
    pub(crate) fn logs(&self, _ns: &str, _name: &str, uid: &str, container: &str) -> Vec<String> {
        lock(&self.logs)
            .get(uid)
            .and_then(|m| m.get(container))
            .cloned()
            .unwrap_or_default()
    }

    fn next_job_attempt(&self, ns: &str, job: &str) -> u32 {
        let mut m = lock(&self.job_attempts);
        let c = m.entry((ns.to_string(), job.to_string())).or_insert(0);
        *c += 1;
        *c
    }

    /// Aborts every pod and service task without waiting.
    pub(crate) fn abort_all(&self) {
        for (_, t) in lock(&self.pods).drain() {
            t.abort();
        }
        for (_, t) in lock(&self.services).drain() {
            t.abort();
        }
    }

    /// Aborts every pod and service task and waits until they (and their listeners) are gone.
    pub(crate) async fn shutdown(&self) {
        let tasks: Vec<JoinHandle<()>> = lock(&self.pods)
            .drain()
            .chain(lock(&self.services).drain())
            .map(|(_, t)| t)
            .collect();
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
    }
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
        Self {
            name: c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            image: c
                .get("image")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
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
}

/// What is published about the pod at each step.
struct PodView {
    ns: String,
    name: String,
    uid: String,
    phase: &'static str,
    initialized: bool,
    ready: bool,
    pod_ip: Option<Ipv4Addr>,
    init: Vec<Ctr>,
    main: Vec<Ctr>,
    start_time: String,
    reason: Option<&'static str>,
}

impl PodView {
    /// Writes the status; `false` when the pod is gone (the task should end).
    fn publish(&self, s: &Shared) -> bool {
        let cond = |t: &str, ok: bool| json!({"type": t, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now()});
        let mut status = json!({
            "phase": self.phase,
            "hostIP": s.kubelet.node_ip.to_string(),
            "hostIPs": [{"ip": s.kubelet.node_ip.to_string()}],
            "startTime": self.start_time,
            "qosClass": "BestEffort",
            "conditions": [
                cond("PodReadyToStartContainers", self.pod_ip.is_some()),
                cond("Initialized", self.initialized),
                cond("Ready", self.ready),
                cond("ContainersReady", self.ready),
                cond("PodScheduled", true),
            ],
            "containerStatuses": self.main.iter().map(|c| c.json(&self.uid)).collect::<Vec<_>>(),
        });
        if !self.init.is_empty() {
            status["initContainerStatuses"] = self.init.iter().map(|c| c.json(&self.uid)).collect();
        }
        if let Some(ip) = self.pod_ip {
            status["podIP"] = json!(ip.to_string());
            status["podIPs"] = json!([{"ip": ip.to_string()}]);
        }
        if let Some(r) = self.reason {
            status["reason"] = json!(r);
        }
        s.store
            .mutate_uid(resources::pods(), &self.ns, &self.name, &self.uid, |o| {
                // Keep transition times stable when only the clock moved.
                let old = o.get("status").cloned().unwrap_or(Value::Null);
                let mut new = status;
                if let (Some(oc), Some(nc)) = (
                    old.get("conditions").and_then(Value::as_array),
                    new.get_mut("conditions").and_then(Value::as_array_mut),
                ) {
                    for c in nc.iter_mut() {
                        if let Some(prev) = oc.iter().find(|p| {
                            p.get("type") == c.get("type") && p.get("status") == c.get("status")
                        }) {
                            c["lastTransitionTime"] = prev["lastTransitionTime"].clone();
                        }
                    }
                }
                o["status"] = new;
            })
            .is_some()
    }
}

fn containers(spec: &Value, key: &str) -> Vec<Value> {
    spec.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn env_of(c: &Value, key: &str) -> Option<String> {
    c.get("env")
        .and_then(Value::as_array)?
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(key))
        .and_then(|e| e.get("value").and_then(Value::as_str))
        .map(str::to_string)
}

/// Drives one pod from Pending to Running (or to completion) and then holds its listeners
/// until the task is aborted (pod deleted or kubesim shut down).
async fn run_pod(s: Arc<Shared>, pod: Value) {
    let spec = pod.get("spec").cloned().unwrap_or(Value::Null);
    let init_specs = containers(&spec, "initContainers");
    let main_specs = containers(&spec, "containers");
    let images: Vec<String> = init_specs
        .iter()
        .chain(main_specs.iter())
        .filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_string))
        .collect();
    let name = meta_str(&pod, "name").to_string();
    let behaviours = s.knobs.behaviours_for(&name, &images);
    let has = |f: &dyn Fn(&Behaviour) -> bool| behaviours.iter().any(f);
    let run_to_completion = spec.get("restartPolicy").and_then(Value::as_str) != Some("Always");
    let uid = meta_str(&pod, "uid").to_string();
    let mut v = PodView {
        ns: meta_str(&pod, "namespace").to_string(),
        name,
        uid: uid.clone(),
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
    };
    let main_name = v.main.first().map(|c| c.name.clone()).unwrap_or_default();
    if !v.publish(&s) {
        return;
    }
    let base = s.config.backoff_base;
    tokio::time::sleep(s.config.pod_start_delay).await;

    if has(&|b| *b == Behaviour::PullFailure) {
        let which: Vec<usize> = (0..v.main.len()).collect();
        for reason in ["ErrImagePull", "ImagePullBackOff"] {
            for &i in &which {
                let image = v.main[i].image.clone();
                v.main[i].state = json!({"waiting": {"reason": reason, "message": format!("Failed to pull image \"{image}\": kubesim: simulated pull failure")}});
            }
            if !v.publish(&s) {
                return;
            }
            tokio::time::sleep(base).await;
        }
        return std::future::pending().await;
    }

    for i in 0..v.init.len() {
        let cname = v.init[i].name.clone();
        s.kubelet.log(
            &uid,
            &cname,
            format!("kubesim: init container {cname} running"),
        );
        let fail = behaviours.iter().find_map(|b| match b {
            Behaviour::InitFailure { exit_code } => Some(*exit_code),
            _ => None,
        });
        if let Some(code) = fail {
            s.kubelet.log(&uid, &cname, format!("kubesim: init container {cname} failed with exit code {code} (InitFailure knob)"));
            v.init[i].terminated(code);
            if run_to_completion {
                v.phase = "Failed";
            }
            v.publish(&s);
            return;
        }
        v.init[i].terminated(0);
        s.kubelet.log(
            &uid,
            &cname,
            format!("kubesim: init container {cname} completed"),
        );
    }
    v.initialized = true;
    if !v.publish(&s) {
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
                    .map(|p| p as u16)
                else {
                    continue;
                };
                if proto != "TCP" || behaviours.contains(&Behaviour::PortNeverListens(port)) {
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
    let named: Vec<(u16, String)> = ports.iter().map(|(p, n, _)| (*p, n.clone())).collect();
    let (ip, listeners) = match s.kubelet.bind_named(None, &named) {
        Ok(x) => x,
        Err(e) => {
            for c in &mut v.main {
                c.state = json!({"waiting": {"reason": "RunContainerError", "message": format!("kubesim: binding listeners: {e}")}});
            }
            v.publish(&s);
            return std::future::pending().await;
        }
    };
    v.pod_ip = Some(ip);
    let mut serving = JoinSet::new();
    for (l, pname) in listeners {
        let kind = port_kind(l.port, &pname);
        let owner = ports
            .iter()
            .find(|(p, _, _)| *p == l.port)
            .map(|(_, _, c)| c.clone())
            .unwrap_or_default();
        s.kubelet.log(
            &uid,
            &owner,
            format!("kubesim: listening on {ip}:{} ({kind:?})", l.port),
        );
        serving.spawn(serve_port(l, kind, v.name.clone()));
    }

    if crash {
        v.phase = "Running";
        let mut backoff = base;
        loop {
            for c in &mut v.main {
                c.running(false);
            }
            if !v.publish(&s) {
                return;
            }
            tokio::time::sleep(base / 2).await;
            s.kubelet.log(
                &uid,
                &main_name,
                "kubesim: simulated crash (CrashLoop knob): exiting with code 1",
            );
            for c in &mut v.main {
                c.terminated(1);
                c.last = c.state.clone();
                if !run_to_completion {
                    c.restarts += 1;
                    c.state = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off {}ms restarting failed container={} pod={}", backoff.as_millis(), c.name, v.name)}});
                }
            }
            if run_to_completion {
                v.phase = "Failed";
                v.publish(&s);
                return;
            }
            if !v.publish(&s) {
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
    if !v.publish(&s) {
        return;
    }
    if !run_to_completion {
        // Hold listeners until aborted.
        while serving.join_next().await.is_some() {}
        return std::future::pending().await;
    }

    let code = run_workload(&s, &pod, &main_specs, &behaviours, &uid, &main_name).await;
    drop(serving);
    for c in &mut v.main {
        c.terminated(code);
    }
    v.phase = if code == 0 { "Succeeded" } else { "Failed" };
    v.publish(&s);
}

/// What a run-to-completion pod "does"; returns its exit code.
async fn run_workload(
    s: &Shared,
    pod: &Value,
    specs: &[Value],
    behaviours: &[Behaviour],
    uid: &str,
    main: &str,
) -> i32 {
    let ns = meta_str(pod, "namespace");
    let fail_n = behaviours.iter().find_map(|b| match b {
        Behaviour::JobFails(n) => Some(*n),
        _ => None,
    });
    if let Some(n) = fail_n {
        let job = pod
            .pointer("/metadata/labels/job-name")
            .and_then(Value::as_str)
            .unwrap_or(meta_str(pod, "name"));
        let attempt = s.kubelet.next_job_attempt(ns, job);
        if attempt <= n {
            s.kubelet.log(
                uid,
                main,
                format!("kubesim: simulated failure of attempt {attempt} (JobFails({n}) knob)"),
            );
            return 1;
        }
    }
    let target = specs.iter().find_map(|c| {
        env_of(c, "ANTIDOTE_TARGET_HOST").map(|h| (h, env_of(c, "ANTIDOTE_TARGET_PORT")))
    });
    let Some((host, port)) = target else {
        s.kubelet.log(uid, main, "kubesim: workload completed");
        return 0;
    };
    let port: u16 = match port.as_deref().map(str::parse).unwrap_or(Ok(22)) {
        Ok(p) => p,
        Err(_) => {
            s.kubelet.log(
                uid,
                main,
                format!("kubesim: invalid ANTIDOTE_TARGET_PORT {port:?}"),
            );
            return 1;
        }
    };
    s.kubelet.log(
        uid,
        main,
        format!("kubesim: connecting to target {host}:{port}"),
    );
    let Some(ip) = resolve(s, ns, &host) else {
        s.kubelet.log(
            uid,
            main,
            format!("kubesim: could not resolve target host {host:?}"),
        );
        return 1;
    };
    if !ip.is_loopback() {
        s.kubelet.log(
            uid,
            main,
            format!("kubesim: refusing to connect to non-loopback address {ip}"),
        );
        return 1;
    }
    match tokio::time::timeout(Duration::from_secs(3), TcpStream::connect((ip, port))).await {
        Ok(Ok(_)) => {
            s.kubelet.log(
                uid,
                main,
                format!("kubesim: connected to {host} ({ip}:{port}); configuration applied"),
            );
            0
        }
        Ok(Err(e)) => {
            s.kubelet.log(
                uid,
                main,
                format!("kubesim: error: target {host} ({ip}:{port}) unreachable: {e}"),
            );
            1
        }
        Err(_) => {
            s.kubelet.log(
                uid,
                main,
                format!("kubesim: error: connecting to {host} ({ip}:{port}) timed out"),
            );
            1
        }
    }
}

/// Resolves an IP, `svc`, `svc.ns`, `svc.ns.svc[.cluster.local]` or a pod name in `ns`.
fn resolve(s: &Shared, ns: &str, host: &str) -> Option<Ipv4Addr> {
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Some(ip);
    }
    if host == "localhost" {
        return Some(Ipv4Addr::LOCALHOST);
    }
    let short = host
        .trim_end_matches(".cluster.local")
        .trim_end_matches(".svc");
    let (name, ns) = short.split_once('.').unwrap_or((short, ns));
    let ip_of = |v: &Value, ptr: &str| {
        v.pointer(ptr)
            .and_then(Value::as_str)
            .and_then(|i| i.parse().ok())
    };
    if let Ok(svc) = s.store.get(resources::services(), ns, name)
        && let Some(ip) = ip_of(&svc, "/spec/clusterIP")
    {
        return Some(ip);
    }
    s.store
        .get(resources::pods(), ns, name)
        .ok()
        .and_then(|p| ip_of(&p, "/status/podIP"))
}

async fn serve_port(l: BoundListener, kind: PortKind, pod: String) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = l.listener.accept() => {
                if let Ok((sock, _)) = r {
                    conns.spawn(answer(sock, kind, l.port, pod.clone()));
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn drain(mut sock: TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(IDLE_CONN, async {
        while let Ok(n) = sock.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

async fn answer(mut sock: TcpStream, kind: PortKind, port: u16, pod: String) {
    match kind {
        PortKind::Ssh => {
            if sock.write_all(b"SSH-2.0-kubesim\r\n").await.is_ok() {
                drain(sock).await;
            }
        }
        PortKind::Http => {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 2048];
            let got_head = tokio::time::timeout(Duration::from_secs(10), async {
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                true
            })
            .await;
            if got_head == Ok(true) {
                let body = format!("kubesim: {pod} port {port}\n");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        }
        PortKind::Tcp => drain(sock).await,
    }
}

async fn proxy_port(s: Arc<Shared>, ns: String, name: String, uid: String, l: BoundListener) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = l.listener.accept() => {
                if let Ok((sock, _)) = r {
                    conns.spawn(proxy_conn(s.clone(), ns.clone(), name.clone(), uid.clone(), l.port, sock));
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Picks a ready backend for `svc`:`port` and returns its address, like kube-proxy would.
fn backend(s: &Shared, ns: &str, name: &str, uid: &str, port: u16) -> Option<SocketAddr> {
    let svc = s.store.get(resources::services(), ns, name).ok()?;
    if meta_str(&svc, "uid") != uid {
        return None;
    }
    let sp = svc
        .pointer("/spec/ports")?
        .as_array()?
        .iter()
        .find(|p| p.get("port").and_then(Value::as_u64) == Some(port as u64))?
        .clone();
    let selector = svc.pointer("/spec/selector")?.as_object()?;
    if selector.is_empty() {
        return None;
    }
    let sel = LabelSelector::from_map(selector);
    let ready = |p: &Value| {
        p.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
            && p.pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            && p.pointer("/status/podIP").is_some()
    };
    let (pods, _) = s.store.list(resources::pods(), Some(ns), &|p: &Value| {
        sel.matches(p.pointer("/metadata/labels").and_then(Value::as_object)) && ready(p)
    });
    if pods.is_empty() {
        return None;
    }
    let pod = &pods[s.knobs.rng_range(0, pods.len() as u64) as usize];
    let ip: Ipv4Addr = pod.pointer("/status/podIP")?.as_str()?.parse().ok()?;
    let target = match sp.get("targetPort") {
        Some(Value::Number(n)) => n.as_u64()? as u16,
        Some(Value::String(pname)) => pod
            .pointer("/spec/containers")?
            .as_array()?
            .iter()
            .flat_map(|c| {
                c.get("ports")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .find(|p| p.get("name").and_then(Value::as_str) == Some(pname.as_str()))?
            .get("containerPort")?
            .as_u64()? as u16,
        _ => port,
    };
    Some(SocketAddr::from((ip, target)))
}

async fn proxy_conn(
    s: Arc<Shared>,
    ns: String,
    name: String,
    uid: String,
    port: u16,
    mut sock: TcpStream,
) {
    let Some(addr) = backend(&s, &ns, &name, &uid, port) else {
        // No ready endpoint: close at once, as a REJECT rule would.
        return;
    };
    let Ok(Ok(mut up)) =
        tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr)).await
    else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut sock, &mut up).await;
}
