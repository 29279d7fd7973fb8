//! Where livelessons run: the [`Backend`] contract the workflows call step by step, and
//! its Kubernetes implementation.
//!
//! # Layout
//!
//! - [`settings`]: every knob of the backend, with the original's defaults.
//! - [`budget`]: resource budgets (sizes, the choice per lesson, the split over pods),
//!   with [`quantity`] for the CPU and memory figures.
//! - [`error`]: failures, classified transient or permanent.
//! - [`kubernetes`]: resource builders (pure) and the kube-rs implementation.
//! - [`reachability`]: probing endpoints over real sockets.

pub mod budget;
pub mod error;
pub mod kubernetes;
pub mod quantity;
pub mod reachability;
pub mod settings;

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Utc};

use crate::curriculum::{Image, Lesson};
use crate::ids::{LivelessonId, SessionId};

pub use error::BackendError;
pub use settings::Settings;

/// Result alias of backend calls.
pub type Result<T, E = BackendError> = std::result::Result<T, E>;

/// A livelesson namespace as the backend sees it (for garbage collection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceInfo {
    /// Namespace name.
    pub name: String,
    /// The livelesson id from its label.
    pub livelesson_id: LivelessonId,
    /// Creation time.
    pub created_at: Option<DateTime<Utc>>,
    /// Whether it is already terminating.
    pub terminating: bool,
}

/// How a livelesson's infrastructure looks now (for reconciliation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Namespace present and every endpoint pod running.
    Healthy,
    /// The namespace is gone.
    NamespaceMissing,
    /// These endpoint pods are missing or not running.
    PodsDown(Vec<String>),
}

/// The original backend's responsibilities, split into step-sized calls so the workflow
/// can checkpoint between them. Every call is idempotent: repeating one after a crash
/// finds its earlier effect and succeeds.
pub trait Backend: Send + Sync + 'static {
    /// Creates the livelesson's namespace.
    fn create_namespace(&self, ll: &Livelesson<'_>) -> impl Future<Output = Result<()>> + Send;
    /// Creates the livelesson's resource budget (a ResourceQuota and a LimitRange) and
    /// waits until the quota is in force; before any pod.
    fn create_budget(&self, ll: &Livelesson<'_>) -> impl Future<Output = Result<()>> + Send;
    /// Creates the egress-lockdown NetworkPolicy.
    fn create_network_policy(&self, ll: &Livelesson<'_>)
    -> impl Future<Output = Result<()>> + Send;
    /// Copies the TLS and image-pull secrets into the namespace.
    fn copy_secrets(&self, ll: &Livelesson<'_>) -> impl Future<Output = Result<()>> + Send;
    /// Stores the lesson's guides and configuration files for the pods.
    fn create_lesson_files(&self, ll: &Livelesson<'_>) -> impl Future<Output = Result<()>> + Send;
    /// Creates one network per connection.
    fn create_networks(&self, ll: &Livelesson<'_>) -> impl Future<Output = Result<()>> + Send;
    /// Creates one endpoint's pod, service and ingresses (the jupyter guide endpoint by
    /// its reserved name).
    fn create_endpoint(
        &self,
        ll: &Livelesson<'_>,
        endpoint: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Waits until every endpoint pod runs; fails fast, with logs, on pods that cannot.
    fn wait_pods_ready(&self, ll: &Livelesson<'_>) -> impl Future<Output = Result<()>> + Send;
    /// The address of every endpoint (its Service ClusterIP), by endpoint name.
    fn endpoint_hosts(
        &self,
        ll: &Livelesson<'_>,
    ) -> impl Future<Output = Result<BTreeMap<String, String>>> + Send;
    /// Removes every configuration job (and its pods) and waits until they are gone.
    fn remove_config_jobs(&self, ll: &Livelesson<'_>) -> impl Future<Output = Result<()>> + Send;
    /// Starts one configuration job per configurable endpoint for `stage`.
    fn start_config_jobs(
        &self,
        ll: &Livelesson<'_>,
        stage: usize,
        hosts: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Waits until every configuration job of `stage` succeeds; fails, with the failing
    /// pod's logs, when one exhausts its backoff limit.
    fn wait_config_jobs(
        &self,
        ll: &Livelesson<'_>,
        stage: usize,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Deletes the livelesson's namespace (everything inside cascades).
    fn delete_namespace(
        &self,
        livelesson_id: &LivelessonId,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Waits until the namespace no longer exists.
    fn wait_namespace_gone(
        &self,
        livelesson_id: &LivelessonId,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Every livelesson namespace of this instance.
    fn list_namespaces(&self) -> impl Future<Output = Result<Vec<NamespaceInfo>>> + Send;
    /// The livelesson's infrastructure health.
    fn health(&self, ll: &Livelesson<'_>) -> impl Future<Output = Result<Health>> + Send;
}

/// Everything needed to build a livelesson's objects: the pinned lesson, the image
/// definitions copied at creation, and the ids.
#[derive(Debug, Clone, Copy)]
pub struct Livelesson<'a> {
    /// The livelesson id (`[a-z0-9]{10}`).
    pub id: &'a LivelessonId,
    /// The livesession it belongs to.
    pub session_id: &'a SessionId,
    /// The pinned lesson version, files included.
    pub lesson: &'a Lesson,
    /// Image definitions by slug (every image the lesson's endpoints use).
    pub images: &'a BTreeMap<String, Image>,
}
