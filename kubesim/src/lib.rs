//! kubesim: a strict simulated Kubernetes control plane and kubelet, served over real HTTP on
//! loopback so that unmodified kube-rs clients can be tested against it.
//!
//! # Usage
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kubesim::{Behaviour, Config, KubeSim};
//! let sim = KubeSim::start(Config::default()).await?;
//! // A plain kube-rs client, built the way production code builds one.
//! let config = kube::Config::new(sim.url().parse()?);
//! let client = kube::Client::try_from(config)?;
//! sim.knobs().set_image_behaviour("vqfx*", Behaviour::PullFailure);
//! // ... exercise `client` ...
//! let stats = sim.requests();
//! assert!(stats.count("create", "pods") <= stats.total());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - [`server`]: HTTP front end (axum on a hand-driven hyper accept loop so the API can be made
//!   unreachable), path parsing, verbs, watch streams, discovery.
//! - [`store`]: objects as JSON keyed by (resource, namespace, name), global resourceVersion,
//!   bounded event history (older watches get 410 Gone).
//! - [`fields`]: unknown fields and `fieldValidation`.
//! - [`validation`], [`selector`], [`status`]: upstream name/label rules, selectors, `Status` errors.
//! - [`controllers`]: namespace termination, job controller, scheduler; one event loop.
//! - [`agent`]: the node agent (kubelet and kube-proxy), a kube-rs client of any API
//!   server; kubesim runs one in-process against its own simulator listener.
//! - [`knobs`]: fault injection and the request log.
//! - [`limits`]: the process's descriptor limit, raised before serving.
//! - [`resources`]: the table of served resources.
//!
//! # Semantics worth knowing
//!
//! - Deletes take effect at once (no graceful termination, finalizers are not honoured),
//!   except namespaces, which stay `Terminating` for [`Config::namespace_termination_delay`].
//! - Owner-reference garbage collection runs synchronously on delete. Jobs default to
//!   `Orphan` like upstream `batch/v1`; pass `propagationPolicy` Background or Foreground to
//!   remove their pods.
//! - Job pods with `restartPolicy: OnFailure` behave like `Never` (one pod per attempt) and
//!   retries are immediate (no exponential backoff).
//! - Watches with selectors send MODIFIED for objects that match after the change; objects
//!   leaving a selector are not turned into DELETED events.
//! - JSON patch and server-side apply are refused with 415.
//! - Pods run on node agents ([`agent`]): the in-process one registers [`NODE_NAME`], agents
//!   of other processes register their own nodes through [`KubeSim::simulator_url`], and
//!   the scheduler binds pods to Ready nodes in turn. `pods/log` serves the in-process
//!   agent's pods only.
//! - ClusterIPs come from 127.128.0.0-127.254.255.255 and pod addresses from
//!   127.1.0.0-127.127.255.255, so neither collides with the other in any process.
//!
//! # Deliberate differences from kube-apiserver
//!
//! The real-control-plane tier's differential suite (`tests/real_control_plane/differential.rs`)
//! sends the same requests to kubesim and to kube-apiserver and fails on any difference
//! not listed here. Each is kept because the backend does not depend on it and copying
//! the real behaviour would cost more than it proves:
//!
//! - Strategic merge patch is applied as JSON merge patch (lists are replaced, not merged
//!   by key): nothing here patches lists; kubesim would need every type's patch strategy.
//! - `dryRun` is refused with 400, so that no test mistakes a dry run for a write; the
//!   backend sends none (the tier dry-runs its objects against the real server instead).
//! - Deletes are immediate (no graceful pod termination, no finalizers but the namespace's
//!   delay), and the answer is a `Status`.
//! - Quota usage is counted from the namespace's pods at each admission. kube-apiserver
//!   charges each admitted create to the quota's status, also one the store then refuses
//!   as AlreadyExists, until the quota controller recounts; a pod sent again can so be
//!   refused by the quota there and be AlreadyExists here. The backend never sends a pod
//!   twice (it reads its pod watch), and the differential suite sends none.
//! - LimitRanges are stored but not applied: kube-apiserver's LimitRanger fills in the
//!   default requests and limits of containers that name none, kubesim does not (such a
//!   pod in a namespace with a compute quota is refused `must specify ...` here). The
//!   backend's pods always name theirs.
//! - No Events, OpenAPI documents, `Table` output, protobuf bodies or `Warning` headers;
//!   custom resources (NetworkAttachmentDefinitions) keep unknown fields, as there is no
//!   schema to prune them with.

#![warn(missing_docs)]

pub mod agent;
pub mod controllers;
pub mod fields;
pub mod knobs;
pub mod limits;
mod quota;
pub mod resources;
pub mod selector;
pub mod server;
pub mod status;
pub mod store;
pub mod validation;

pub use knobs::{Behaviour, InjectedError, Knobs, Latency, RequestStats};

use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Name of the node of kubesim's in-process agent.
pub const NODE_NAME: &str = "kubesim-node";

/// Errors of starting kubesim or building a client for it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API listener could not be bound.
    #[error("binding the API listener: {0}")]
    Bind(#[source] std::io::Error),
    /// Building a kube client failed.
    #[error("building a kube client: {0}")]
    Kube(#[from] kube::Error),
    /// The server URL did not parse (should not happen).
    #[error("invalid server url: {0}")]
    Url(String),
    /// The in-process node agent did not start.
    #[error("starting the node agent: {0}")]
    Agent(#[from] agent::Error),
}

/// Start-up configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the API listens on; must be loopback. Default `127.0.0.1:0`.
    pub bind: SocketAddr,
    /// How long a deleted namespace stays `Terminating` before its contents are removed.
    pub namespace_termination_delay: Duration,
    /// Delay between a pod being scheduled and its containers starting.
    pub pod_start_delay: Duration,
    /// Seed for every random choice (names, addresses base, latency, error injection).
    /// `None` picks one from the OS; the chosen seed is readable via [`KubeSim::seed`].
    pub seed: Option<u64>,
    /// Create `default` and `kube-system` at start.
    pub default_namespaces: bool,
    /// Events kept for watch resumption; older resourceVersions get 410 Gone.
    pub event_history: usize,
    /// Interval of BOOKMARK events on watches that ask for them.
    pub bookmark_interval: Duration,
    /// Time from `ErrImagePull` to `ImagePullBackOff`, and the first crash-loop backoff.
    pub backoff_base: Duration,
    /// Run the in-process node agent ([`NODE_NAME`]). Without it pods stay Pending until
    /// an agent of another process registers a node (see [`KubeSim::simulator_url`]).
    pub node_agent: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            namespace_termination_delay: Duration::from_millis(200),
            pod_start_delay: Duration::from_millis(30),
            seed: None,
            default_namespaces: true,
            event_history: 200_000,
            bookmark_interval: Duration::from_secs(1),
            backoff_base: Duration::from_millis(100),
            node_agent: true,
        }
    }
}

/// State shared by the server and the controllers.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) store: store::Store,
    pub(crate) knobs: Knobs,
    /// ClusterIPs.
    pub(crate) service_addresses: agent::address::Allocator,
    /// Container logs of the in-process agent's pods, served as `pods/log`.
    pub(crate) logs: Arc<agent::logs::LogBook>,
    /// Held from a pod's quota admission until it is stored, so that two pods cannot
    /// both take the last of a quota.
    pub(crate) quota_admission: std::sync::Mutex<()>,
}

/// A running kubesim instance. Dropping it aborts its tasks; [`KubeSim::shutdown`] also waits
/// until every listener is released.
pub struct KubeSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    simulator_addr: SocketAddr,
    seed: u64,
    tasks: Vec<JoinHandle<()>>,
    agent: Option<agent::Agent>,
}

impl std::fmt::Debug for KubeSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSim")
            .field("addr", &self.addr)
            .field("simulator_addr", &self.simulator_addr)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl KubeSim {
    /// Binds the API and starts the controllers and the in-process node agent.
    pub async fn start(config: Config) -> Result<Self, Error> {
        if !config.bind.ip().is_loopback() {
            return Err(Error::Bind(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "kubesim only binds loopback addresses",
            )));
        }
        let seed = config.seed.unwrap_or_else(rand::random);
        let knobs = Knobs::new(seed);
        let shared = Arc::new(Shared {
            store: store::Store::new(config.event_history),
            service_addresses: agent::address::Allocator::new(
                agent::address::SERVICE_RANGE,
                &knobs,
            ),
            logs: Arc::default(),
            quota_admission: std::sync::Mutex::default(),
            knobs,
            config,
        });
        if shared.config.default_namespaces {
            for ns in ["default", "kube-system"] {
                let obj = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                server::create_internal(&shared, resources::namespaces(), "", obj)
                    .map_err(|e| Error::Bind(std::io::Error::other(e.to_string())))?;
            }
        }
        let listener = tokio::net::TcpListener::bind(shared.config.bind)
            .await
            .map_err(Error::Bind)?;
        let addr = listener.local_addr().map_err(Error::Bind)?;
        // The simulator's own clients (node agents) use a listener of their own, which the
        // knobs never touch: no latency, no injected errors, no unreachability, and no
        // entry in the request log that tests read as the system under test's requests.
        let simulator_listener = tokio::net::TcpListener::bind((addr.ip(), 0))
            .await
            .map_err(Error::Bind)?;
        let simulator_addr = simulator_listener.local_addr().map_err(Error::Bind)?;
        let tasks = vec![
            tokio::spawn(server::serve(shared.clone(), listener, addr)),
            tokio::spawn(server::serve_simulator(shared.clone(), simulator_listener)),
            tokio::spawn(controllers::run(shared.clone())),
        ];
        let mut sim = Self {
            shared,
            addr,
            simulator_addr,
            seed,
            tasks,
            agent: None,
        };
        if sim.shared.config.node_agent {
            // Every pod and service port is a listening socket of this process.
            if let Err(e) = limits::raise_nofile_limit() {
                tracing::warn!("kubesim: could not raise RLIMIT_NOFILE: {e}");
            }
            let client = sim.simulator_client()?;
            let mut config = agent::Config::new(NODE_NAME, sim.shared.knobs.clone());
            config.logs = sim.shared.logs.clone();
            config.pod_start_delay = sim.shared.config.pod_start_delay;
            config.backoff_base = sim.shared.config.backoff_base;
            sim.agent = Some(agent::Agent::start(client, config).await?);
        }
        Ok(sim)
    }

    /// `http://127.0.0.1:PORT` of the simulator's own listener, for node agents of other
    /// processes: requests there skip every knob and are not in [`KubeSim::requests`].
    pub fn simulator_url(&self) -> String {
        format!("http://{}", self.simulator_addr)
    }

    /// A kube client on [`KubeSim::simulator_url`].
    pub fn simulator_client(&self) -> Result<kube::Client, Error> {
        let url = self
            .simulator_url()
            .parse()
            .map_err(|e| Error::Url(format!("{e}")))?;
        Ok(kube::Client::try_from(kube::Config::new(url))?)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The RNG seed in use.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A kubeconfig (context, cluster and user named `kubesim`, namespace `default`).
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kubesim\n  cluster:\n    server: {}\ncontexts:\n- name: kubesim\n  context:\n    cluster: kubesim\n    user: kubesim\n    namespace: default\ncurrent-context: kubesim\nusers:\n- name: kubesim\n  user: {{}}\npreferences: {{}}\n",
            self.url()
        )
    }

    /// A kube client for this instance, built exactly as callers should build theirs.
    pub fn client(&self) -> Result<kube::Client, Error> {
        let url = self.url().parse().map_err(|e| Error::Url(format!("{e}")))?;
        Ok(kube::Client::try_from(kube::Config::new(url))?)
    }

    /// The knobs handle.
    pub fn knobs(&self) -> &Knobs {
        &self.shared.knobs
    }

    /// Snapshot of request counts per (verb, resource) and the (verb, group, resource) set.
    pub fn requests(&self) -> RequestStats {
        self.shared.knobs.requests()
    }

    /// Direct read of an object by plural resource name (core or any served group).
    pub fn get(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let def = resources::RESOURCES.iter().find(|r| r.plural == plural)?;
        self.shared
            .store
            .get(def, namespace, name)
            .ok()
            .map(Arc::unwrap_or_clone)
    }

    /// The object store, for inspection.
    pub fn store(&self) -> &store::Store {
        &self.shared.store
    }

    /// Number of pod and service listeners the in-process agent has bound.
    pub fn listener_count(&self) -> usize {
        self.agent.as_ref().map_or(0, agent::Agent::listener_count)
    }

    /// Stops the in-process agent (every pod and service listener), the API and the
    /// controllers, and waits for them.
    pub async fn shutdown(mut self) {
        if let Some(agent) = self.agent.take() {
            agent.shutdown().await;
        }
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
