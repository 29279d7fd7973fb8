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
//! - [`validation`], [`selector`], [`status`]: upstream name/label rules, selectors, `Status` errors.
//! - [`controllers`]: namespace termination, job controller, scheduler; one event loop.
//! - [`kubelet`]: 127/8 address allocation, per-pod lifecycle, real listeners, service proxying.
//! - [`knobs`]: fault injection and the request log.
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
//! - Strategic merge patch is applied as JSON merge patch; JSON patch and server-side apply
//!   are refused with 415.

#![warn(missing_docs)]

pub mod controllers;
pub mod knobs;
pub mod kubelet;
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

/// Name of the single simulated node.
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
        }
    }
}

/// State shared by the server, the controllers and the kubelet.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) store: store::Store,
    pub(crate) knobs: Knobs,
    pub(crate) kubelet: kubelet::Kubelet,
}

/// A running kubesim instance. Dropping it aborts its tasks; [`KubeSim::shutdown`] also waits
/// until every listener is released.
pub struct KubeSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    seed: u64,
    tasks: Vec<JoinHandle<()>>,
}

impl KubeSim {
    /// Binds the API and starts controllers and the kubelet.
    pub async fn start(config: Config) -> Result<Self, Error> {
        if !config.bind.ip().is_loopback() {
            return Err(Error::Bind(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "kubesim only binds loopback addresses",
            )));
        }
        let seed = config.seed.unwrap_or_else(rand::random);
        let knobs = Knobs::new(seed);
        let kubelet = kubelet::Kubelet::new(&knobs);
        let shared = Arc::new(Shared {
            store: store::Store::new(config.event_history),
            knobs,
            kubelet,
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
        let tasks = vec![
            tokio::spawn(server::serve(shared.clone(), listener, addr)),
            tokio::spawn(controllers::run(shared.clone())),
        ];
        Ok(Self {
            shared,
            addr,
            seed,
            tasks,
        })
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

    /// Number of pod and service listeners currently bound.
    pub fn listener_count(&self) -> usize {
        self.shared.kubelet.listener_count()
    }

    /// Stops the API, controllers, every pod and service listener, and waits for them.
    pub async fn shutdown(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        self.shared.kubelet.shutdown().await;
    }
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.shared.kubelet.abort_all();
    }
}
