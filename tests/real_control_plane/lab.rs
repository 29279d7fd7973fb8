//! A lab on the real control plane: a `#[sqlx::test]` database with the example
//! curriculum, the cluster prepared as an operator would (CRD, RuntimeClass, secrets,
//! `deploy/`'s RBAC), the scheduler's identity a ServiceAccount token bound only to
//! `deploy/`'s ClusterRole, and the node agent running the pods in this process.

use std::path::Path;
use std::time::Duration;

use antidote_scheduler::backend::Settings;
use antidote_scheduler::backend::kubernetes::KubernetesBackend;
use antidote_scheduler::curriculum::{self, Options};
use antidote_scheduler::ids::{LivelessonId, SessionId};
use antidote_scheduler::queue::{Client as Queue, JobId, Registry, Worker, WorkerConfig};
use antidote_scheduler::store;
use antidote_scheduler::store::livelesson::Livelesson;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::Client;
use kube::api::{Api, PostParams};
use kubesim::Knobs;
use kubesim::agent::{Agent, ServiceShare};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::cluster;
use crate::harness::ControlPlane;
use crate::helpers;

/// The ServiceAccount `deploy/rbac.yaml` binds the ClusterRole to.
pub const SCHEDULER_NAMESPACE: &str = "antidote-system";
/// Its name.
pub const SCHEDULER_ACCOUNT: &str = "antidote-scheduler";

/// Backend settings sized for tests on a real control plane: failures surface in
/// seconds, but a namespace's termination by the namespace controller gets its time.
pub fn settings() -> Settings {
    Settings {
        instance_id: "test".into(),
        pod_ready_timeout: Duration::from_secs(30),
        reachability_timeout: Duration::from_secs(5),
        probe_timeout: Duration::from_millis(500),
        job_cleanup_timeout: Duration::from_secs(30),
        config_timeout: Duration::from_secs(30),
        namespace_delete_timeout: Duration::from_secs(60),
        // A call to an API server whose etcd is away fails within the outage tests' time.
        api_call_timeout: Duration::from_secs(10),
        ..Settings::default()
    }
}

/// Every document of a YAML file of `deploy/`.
pub fn deploy_documents(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("deploy file readable");
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

/// `deploy/`'s ClusterRole.
pub fn deploy_cluster_role() -> ClusterRole {
    let doc = deploy_documents("rbac.yaml")
        .into_iter()
        .find(|d| d["kind"] == "ClusterRole")
        .expect("deploy/rbac.yaml has a ClusterRole");
    serde_json::from_value(doc).expect("ClusterRole parses")
}

/// Creates `deploy/`'s namespace, ServiceAccount, ClusterRole and ClusterRoleBinding.
pub async fn apply_deploy_rbac(admin: &Client) {
    let namespace: Namespace = serde_json::from_value(
        deploy_documents("namespace.yaml")
            .pop()
            .expect("deploy/namespace.yaml"),
    )
    .expect("namespace parses");
    Api::<Namespace>::all(admin.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("scheduler namespace created");
    for doc in deploy_documents("rbac.yaml") {
        let params = PostParams::default();
        match doc["kind"].as_str() {
            Some("ServiceAccount") => {
                let account: ServiceAccount = serde_json::from_value(doc).expect("account");
                Api::<ServiceAccount>::namespaced(admin.clone(), SCHEDULER_NAMESPACE)
                    .create(&params, &account)
                    .await
                    .expect("service account created");
            }
            Some("ClusterRole") => {
                let role: ClusterRole = serde_json::from_value(doc).expect("role");
                Api::<ClusterRole>::all(admin.clone())
                    .create(&params, &role)
                    .await
                    .expect("cluster role created");
            }
            Some("ClusterRoleBinding") => {
                let binding: ClusterRoleBinding = serde_json::from_value(doc).expect("binding");
                Api::<ClusterRoleBinding>::all(admin.clone())
                    .create(&params, &binding)
                    .await
                    .expect("binding created");
            }
            other => panic!("deploy/rbac.yaml: unexpected kind {other:?}"),
        }
    }
}

/// A bound token of the scheduler's ServiceAccount, from the TokenRequest API, as the
/// kubelet would mount it into the scheduler's pod.
pub async fn scheduler_token(admin: &Client) -> String {
    account_token(admin, SCHEDULER_NAMESPACE, SCHEDULER_ACCOUNT).await
}

/// A bound token of ServiceAccount `namespace/account` from the TokenRequest API (the
/// API server's audience, an hour long), as the kubelet requests one for a pod's
/// projected token volume.
pub async fn account_token(admin: &Client, namespace: &str, account: &str) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    let request: TokenRequest = serde_json::from_value(json!({
        "spec": {"audiences": [], "expirationSeconds": 3600}
    }))
    .expect("token request");
    let answer: TokenRequest = accounts
        .create_subresource("token", account, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("token of {namespace}/{account} issued: {e}"));
    answer.status.expect("token status").token
}

/// Starts a control plane for `test` (`None`: skipped, the binaries are absent), with the
/// tests' log output set up.
pub async fn start_plane(test: &str) -> Option<ControlPlane> {
    // RUST_LOG=kubesim=debug shows what the node agent does.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    ControlPlane::start_or_skip(test).await
}

/// Database, curriculum, control plane, scheduler identity and node agent.
pub struct Lab {
    pub pool: PgPool,
    pub admin: Client,
    pub scheduler: Client,
    /// A kubeconfig with the scheduler's token, for child processes.
    pub scheduler_kubeconfig: std::path::PathBuf,
    pub settings: Settings,
    pub queue: Queue,
    pub knobs: Knobs,
    pub agent: Option<Agent>,
    /// The secrets of the secrets namespace, which every livelesson copies.
    pub secrets: Vec<Secret>,
    // Dropped last: everything above talks to it.
    pub plane: ControlPlane,
}

impl Lab {
    /// `None` when the control plane's binaries are absent (the test is skipped).
    pub async fn start(pool: PgPool, test: &str) -> Option<Self> {
        let plane = start_plane(test).await?;
        apply_deploy_rbac(&plane.admin_client().await).await;
        let mut lab = Self::on(pool, plane).await;
        lab.start_agent().await;
        Some(lab)
    }

    /// The lab on `plane`, where the scheduler's namespace, ServiceAccount and RBAC
    /// ([`SCHEDULER_NAMESPACE`], [`SCHEDULER_ACCOUNT`]) are already installed (by
    /// [`apply_deploy_rbac`], or by the applied Helm chart): the example curriculum
    /// imported, the cluster prepared, a token of the account. No node agent runs until
    /// [`Lab::start_agent`]: until then no pod is scheduled.
    pub async fn on(pool: PgPool, plane: ControlPlane) -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("example-curriculum");
        let loaded = curriculum::load(&dir, &Options::default());
        let curriculum = loaded.valid().expect("the example curriculum is valid");
        store::curriculum::import(&pool, curriculum)
            .await
            .expect("import");
        let admin = plane.admin_client().await;
        let settings = settings();
        let secrets = cluster::prepare(&admin, &settings).await;
        let token = scheduler_token(&admin).await;
        let scheduler_kubeconfig = plane.kubeconfig_with_token("scheduler", &token);
        let scheduler = ControlPlane::client_from(&scheduler_kubeconfig).await;
        Self {
            queue: Queue::new(pool.clone()),
            pool,
            admin,
            scheduler,
            scheduler_kubeconfig,
            settings,
            knobs: Knobs::new(7),
            agent: None,
            secrets,
            plane,
        }
    }

    /// Starts the node agent, which binds every pod to itself (no kube-scheduler runs),
    /// runs it and serves the test's service range (it is the only kube-proxy).
    pub async fn start_agent(&mut self) {
        assert!(self.agent.is_none(), "one node agent");
        let agent_client = ControlPlane::client_from(&self.plane.agent_kubeconfig()).await;
        let mut config = kubesim::agent::Config::new("antidote-agent", self.knobs.clone());
        config.bind_unscheduled = Some((0, 1));
        config.services = ServiceShare::All;
        let agent = Agent::start(agent_client, config)
            .await
            .expect("the node agent registers");
        self.agent = Some(agent);
    }

    /// The production registry on a backend with the scheduler's identity.
    pub fn registry(&self) -> Registry {
        helpers::registry(self.scheduler.clone(), &self.settings)
    }

    /// A backend with the scheduler's identity.
    pub fn backend(&self) -> KubernetesBackend {
        KubernetesBackend::new(self.scheduler.clone(), self.settings.clone())
    }

    /// A worker running the workflows in this process.
    pub fn worker(&self, config: WorkerConfig) -> Worker {
        Worker::with_notifier(
            self.pool.clone(),
            self.registry(),
            config,
            self.queue.notifier().clone(),
        )
    }

    pub async fn session(&self) -> SessionId {
        helpers::new_session(&self.pool).await
    }

    pub async fn request(&self, session: &SessionId, lesson: &str, stage: i64) -> Livelesson {
        helpers::request_lesson(
            &self.pool,
            &self.queue,
            &self.settings,
            session,
            lesson,
            stage,
        )
        .await
    }

    pub async fn livelesson(&self, id: &LivelessonId) -> Option<Livelesson> {
        helpers::read_livelesson(&self.pool, id).await
    }

    /// The pods and Jobs of a namespace, as the API server has them, for failure messages.
    pub async fn describe_namespace(&self, ns: &str) -> String {
        use k8s_openapi::api::batch::v1::Job;
        use k8s_openapi::api::core::v1::Pod;
        use kube::api::ListParams;
        use std::fmt::Write as _;
        let mut out = format!("namespace {ns}:\n");
        if let Ok(pods) = Api::<Pod>::namespaced(self.admin.clone(), ns)
            .list(&ListParams::default())
            .await
        {
            for pod in pods {
                let _ = writeln!(
                    out,
                    "  pod {} node {:?} phase {:?} deleting {:?} finalizers {:?}",
                    pod.metadata.name.unwrap_or_default(),
                    pod.spec.and_then(|s| s.node_name),
                    pod.status.and_then(|s| s.phase),
                    pod.metadata.deletion_timestamp.map(|t| t.0.to_string()),
                    pod.metadata.finalizers,
                );
            }
        }
        if let Ok(jobs) = Api::<Job>::namespaced(self.admin.clone(), ns)
            .list(&ListParams::default())
            .await
        {
            for job in jobs {
                let _ = writeln!(
                    out,
                    "  job {} deleting {:?} finalizers {:?} status {:?}",
                    job.metadata.name.unwrap_or_default(),
                    job.metadata.deletion_timestamp.map(|t| t.0.to_string()),
                    job.metadata.finalizers,
                    job.status,
                );
            }
        }
        out
    }

    /// The newest job of `kind` for livelesson `id`.
    pub async fn job(&self, kind: &str, id: impl AsRef<str>) -> JobId {
        helpers::newest_job(&self.pool, kind, id).await
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // The agent's listeners go before the API server they report to.
        self.agent.take();
    }
}
