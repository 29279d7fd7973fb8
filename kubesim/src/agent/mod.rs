//! The node agent: a kubelet (and kube-proxy) for simulated pods that talks to any
//! Kubernetes API server as a plain kube-rs client, like kwok but with real listeners.
//! kubesim runs one in-process; the real-control-plane tests run one against
//! kube-apiserver; `antidoted bench lessons` runs several as processes.
//!
//! An agent registers its Node (Ready, one 127.x address), runs every pod bound to it with
//! real listeners on a 127.x pod address of its own, publishes each pod's status through
//! the `status` subresource, honours deletion (a pod marked for deletion is stopped and
//! then removed with a zero grace period, as a kubelet finishes a graceful delete), and
//! serves its share of Services' ClusterIPs. Against an API server without a scheduler it
//! can bind unscheduled pods to itself through `pods/binding`.
//!
//! # Layout
//!
//! - [`address`]: 127/8 allocation and counted listeners.
//! - [`endpoint`]: the node's HTTPS endpoint, where an API server reads container logs.
//! - [`pod`]: one pod's lifecycle and the status it publishes.
//! - [`workload`]: what run-to-completion pods do (configuration pods dial their target).
//! - [`port`]: what a pod's listeners answer (ssh, http, tcp).
//! - [`ssh`]: the SSH server of `ssh` ports: host key, logins, session channels.
//! - [`login`]: which login each image's SSH server accepts.
//! - [`shell`]: one session channel's shell on a pty.
//! - [`sandbox`]: the bubblewrap sandbox and rlimits a shell runs in.
//! - [`proxy`]: ClusterIP listeners forwarding to ready pods (kube-proxy's part).
//! - [`logs`]: container log lines.
//! - [`failure`]: failures that are the simulator's own, reported as such.

pub mod address;
pub mod endpoint;
pub mod failure;
pub mod login;
pub mod logs;
mod pod;
pub mod port;
pub mod proxy;
pub mod sandbox;
mod shell;
pub mod ssh;
mod workload;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::knobs::Knobs;
use address::{Allocator, ListenerCount, POD_RANGE};
use logs::LogBook;
pub use proxy::ServiceShare;

/// How long registering the Node may take (the API server may still be starting).
const REGISTER_WITHIN: Duration = Duration::from_secs(30);

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoning only follows a panic elsewhere; the maps stay usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Errors of starting an agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Node could not be registered.
    #[error("registering node {node}: {source}")]
    Register {
        /// The node's name.
        node: String,
        /// What the API server answered.
        #[source]
        source: kube::Error,
    },
    /// No address could be found for the node.
    #[error("finding an address for node {node}: {source}")]
    Address {
        /// The node's name.
        node: String,
        /// Why binding failed.
        #[source]
        source: std::io::Error,
    },
    /// The node's HTTPS endpoint could not be set up.
    #[error("setting up the endpoint of node {node}: {source}")]
    Endpoint {
        /// The node's name.
        node: String,
        /// Why.
        #[source]
        source: endpoint::EndpointError,
    },
}

/// How an agent runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Node's name; pods bound to it are this agent's.
    pub node_name: String,
    /// Pod behaviours (fault injection) and the seeded RNG.
    pub knobs: Knobs,
    /// Where container logs go (kubesim shares it to serve `pods/log`).
    pub logs: Arc<LogBook>,
    /// Delay between a pod being seen and its containers starting.
    pub pod_start_delay: Duration,
    /// Time from `ErrImagePull` to `ImagePullBackOff`, and the first crash-loop backoff.
    pub backoff_base: Duration,
    /// Bind unscheduled pods (of this agent's share) to this node, for API servers
    /// without a scheduler: `Some((index, count))` of the agents that bind.
    pub bind_unscheduled: Option<(u32, u32)>,
    /// Which Services' ClusterIPs this agent serves.
    pub services: ServiceShare,
    /// What each shell of a pod's SSH server may use.
    pub shell_limits: sandbox::Limits,
}

impl Config {
    /// An agent named `node_name` that serves every Service and binds nothing.
    pub fn new(node_name: impl Into<String>, knobs: Knobs) -> Self {
        Self {
            node_name: node_name.into(),
            knobs,
            logs: Arc::default(),
            pod_start_delay: Duration::from_millis(30),
            backoff_base: Duration::from_millis(100),
            bind_unscheduled: None,
            services: ServiceShare::All,
            shell_limits: sandbox::Limits::default(),
        }
    }
}

/// State shared by the agent's tasks.
pub(crate) struct State {
    client: Client,
    config: Config,
    node_ip: Ipv4Addr,
    /// The SSH server configuration of every pod's ssh ports (the node's host key).
    ssh: Arc<russh::server::Config>,
    pod_addresses: Allocator,
    listeners: ListenerCount,
    logs: Arc<LogBook>,
    pods: Mutex<HashMap<String, JoinHandle<()>>>,
    /// The uid of each pod the agent runs, by namespace and name (for the endpoint).
    names: Mutex<HashMap<(String, String), String>>,
    services: Mutex<HashMap<String, proxy::Served>>,
    /// ClusterIPs whose listeners could not be bound, and why.
    service_failures: Mutex<HashMap<Ipv4Addr, String>>,
    job_attempts: Mutex<HashMap<(String, String), u32>>,
}

impl State {
    fn next_job_attempt(&self, ns: &str, job: &str) -> u32 {
        let mut m = lock(&self.job_attempts);
        let c = m.entry((ns.to_owned(), job.to_owned())).or_insert(0);
        *c += 1;
        *c
    }

    fn service_failure(&self, ip: Ipv4Addr) -> Option<String> {
        lock(&self.service_failures).get(&ip).cloned()
    }

    fn start_pod(self: &Arc<Self>, pod: &Pod) {
        let uid = pod.uid().unwrap_or_default();
        let mut pods = lock(&self.pods);
        if pods.contains_key(&uid) {
            return;
        }
        let Ok(value) = serde_json::to_value(pod) else {
            return;
        };
        lock(&self.names).insert(
            (pod.namespace().unwrap_or_default(), pod.name_any()),
            uid.clone(),
        );
        pods.insert(uid, tokio::spawn(pod::run_pod(self.clone(), value)));
    }

    fn stop_pod(&self, uid: &str) {
        if let Some(t) = lock(&self.pods).remove(uid) {
            t.abort();
        }
        lock(&self.names).retain(|_, u| u != uid);
    }

    fn pod_uid(&self, namespace: &str, name: &str) -> Option<String> {
        lock(&self.names)
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }
}

/// A running agent. Dropping it aborts its tasks; [`Agent::shutdown`] also waits until
/// every listener is released.
pub struct Agent {
    state: Arc<State>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Registers the Node on the API server behind `client` and starts following the
    /// pods bound to it (and the Services it serves).
    ///
    /// # Errors
    /// [`Error`] when the Node cannot be registered.
    pub async fn start(client: Client, config: Config) -> Result<Self, Error> {
        let pod_addresses = Allocator::new(POD_RANGE, &config.knobs);
        // The node's own address: the first of the pod range where its endpoint binds
        // (counted apart: it is neither a pod's nor a Service's listener).
        let (node_ip, mut bound) = pod_addresses
            .bind_next(&ListenerCount::default(), &[endpoint::KUBELET_PORT])
            .map_err(|(_, source)| Error::Address {
                node: config.node_name.clone(),
                source,
            })?;
        let endpoint_listener = bound.pop();
        let tls = endpoint::acceptor(&config.node_name).map_err(|source| Error::Endpoint {
            node: config.node_name.clone(),
            source,
        })?;
        let ssh = ssh::server_config(&config.shell_limits);
        register(&client, &config.node_name, node_ip).await?;
        let state = Arc::new(State {
            client,
            node_ip,
            ssh,
            pod_addresses,
            listeners: ListenerCount::default(),
            logs: config.logs.clone(),
            pods: Mutex::default(),
            names: Mutex::default(),
            services: Mutex::default(),
            service_failures: Mutex::default(),
            job_attempts: Mutex::default(),
            config,
        });
        let mut tasks = vec![tokio::spawn(follow_pods(state.clone()))];
        if let Some(listener) = endpoint_listener {
            tasks.push(tokio::spawn(endpoint::serve(state.clone(), listener, tls)));
        }
        if state.config.services != ServiceShare::None {
            tasks.push(tokio::spawn(proxy::run(state.clone())));
        }
        if let Some((index, count)) = state.config.bind_unscheduled {
            tasks.push(tokio::spawn(bind_unscheduled(state.clone(), index, count)));
        }
        Ok(Self { state, tasks })
    }

    /// The Node's name.
    pub fn node_name(&self) -> &str {
        &self.state.config.node_name
    }

    /// The Node's address.
    pub fn node_ip(&self) -> Ipv4Addr {
        self.state.node_ip
    }

    /// Pod and Service listeners bound now.
    pub fn listener_count(&self) -> usize {
        self.state.listeners.get()
    }

    /// Pods running (or finished but not deleted) on this node.
    pub fn pod_count(&self) -> usize {
        lock(&self.state.pods).len()
    }

    /// Stops every task and waits until every listener is released.
    pub async fn shutdown(mut self) {
        let mut all: Vec<JoinHandle<()>> = self.tasks.drain(..).collect();
        all.extend(lock(&self.state.pods).drain().map(|(_, t)| t));
        all.extend(lock(&self.state.services).drain().map(|(_, s)| s.task));
        for t in &all {
            t.abort();
        }
        for t in all {
            let _ = t.await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for (_, t) in lock(&self.state.pods).drain() {
            t.abort();
        }
        for (_, s) in lock(&self.state.services).drain() {
            s.task.abort();
        }
    }
}

/// Creates (or takes over) the Node, reports it Ready at `ip`, and clears the
/// `not-ready` taint admission put on it (the node lifecycle controller's job, which
/// no one else runs here).
async fn register(client: &Client, name: &str, ip: Ipv4Addr) -> Result<(), Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let err = |source| Error::Register {
        node: name.to_owned(),
        source,
    };
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubesim.io/agent": "true",
        }},
    }))
    .map_err(|e| err(kube::Error::SerdeError(e)))?;
    let deadline = tokio::time::Instant::now() + REGISTER_WITHIN;
    loop {
        match nodes.create(&PostParams::default(), &node).await {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 409 => break,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, "kubesim agent: registering the node; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(err(e)),
        }
    }
    let now = pod::now();
    let status = json!({"status": {
        // Only the address: an API server that reaches kubelets by Hostname would look the
        // node's name up in DNS.
        "addresses": [{"type": "InternalIP", "address": ip.to_string()}],
        "capacity": {"pods": "1000000", "cpu": "64", "memory": "256Gi"},
        "allocatable": {"pods": "1000000", "cpu": "64", "memory": "256Gi"},
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "kubesim agent is posting ready status",
            "lastHeartbeatTime": now, "lastTransitionTime": now,
        }],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": endpoint::KUBELET_PORT}},
        "nodeInfo": {
            "machineID": name, "systemUUID": name, "bootID": name,
            "kernelVersion": "kubesim", "osImage": "kubesim",
            "containerRuntimeVersion": "kubesim://1", "kubeletVersion": "kubesim",
            "kubeProxyVersion": "kubesim", "operatingSystem": "linux", "architecture": "amd64",
        },
    }});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .map_err(err)?;
    nodes
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"taints": null}})),
        )
        .await
        .map_err(err)?;
    Ok(())
}

/// Follows the pods bound to this node until aborted.
async fn follow_pods(s: Arc<State>) {
    let api: Api<Pod> = Api::all(s.client.clone());
    let fields = format!("spec.nodeName={}", s.config.node_name);
    let mut events = watcher::watcher(api, watcher::Config::default().fields(&fields))
        .default_backoff()
        .boxed();
    let mut seen = HashSet::new();
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Apply(pod) | Event::InitApply(pod)) => {
                seen.insert(pod.uid().unwrap_or_default());
                on_pod(&s, &pod);
            }
            Ok(Event::Delete(pod)) => {
                let uid = pod.uid().unwrap_or_default();
                s.stop_pod(&uid);
                s.logs.forget(&uid);
            }
            Ok(Event::Init) => seen.clear(),
            Ok(Event::InitDone) => {
                let gone: Vec<String> = lock(&s.pods)
                    .keys()
                    .filter(|uid| !seen.contains(*uid))
                    .cloned()
                    .collect();
                for uid in gone {
                    s.stop_pod(&uid);
                }
            }
            Err(e) => tracing::debug!(error = %e, "kubesim agent: watching pods"),
        }
    }
}

fn on_pod(s: &Arc<State>, pod: &Pod) {
    let uid = pod.uid().unwrap_or_default();
    if pod.metadata.deletion_timestamp.is_some() {
        // A graceful delete: stop the containers, then finish the delete.
        s.stop_pod(&uid);
        let api: Api<Pod> = Api::namespaced(s.client.clone(), &pod.namespace().unwrap_or_default());
        let name = pod.name_any();
        tokio::spawn(async move {
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(uid),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(&name, &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                Err(e) => {
                    tracing::warn!(pod = name, error = %e, "kubesim agent: finishing a delete");
                }
            }
        });
        return;
    }
    let finished = matches!(
        pod.status.as_ref().and_then(|st| st.phase.as_deref()),
        Some("Succeeded" | "Failed")
    );
    if !finished {
        s.start_pod(pod);
    }
}

/// Binds this agent's share of unscheduled pods to its node, as a scheduler would.
async fn bind_unscheduled(s: Arc<State>, index: u32, count: u32) {
    let api: Api<Pod> = Api::all(s.client.clone());
    let mut events = watcher::watcher(api, watcher::Config::default().fields("spec.nodeName="))
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        let pod = match event {
            Ok(Event::Apply(pod) | Event::InitApply(pod)) => pod,
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "kubesim agent: watching unscheduled pods");
                continue;
            }
        };
        let uid = pod.uid().unwrap_or_default();
        if pod.metadata.deletion_timestamp.is_some() || proxy::shard_of(&uid, count) != index {
            continue;
        }
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let binding = json!({
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": ns, "uid": uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": s.config.node_name},
        });
        let pods: Api<Pod> = Api::namespaced(s.client.clone(), &ns);
        match pods
            .create_subresource::<_, serde_json::Value>(
                "binding",
                &name,
                &PostParams::default(),
                &binding,
            )
            .await
        {
            Ok(_) => {}
            // Bound meanwhile, or gone.
            Err(kube::Error::Api(st)) if st.code == 409 || st.code == 404 => {}
            Err(e) => tracing::warn!(pod = name, error = %e, "kubesim agent: binding a pod"),
        }
    }
}
