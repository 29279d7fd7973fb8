//! The Kubernetes backend: pure resource builders ([`resources`]) applied through kube-rs,
//! and shared watch caches ([`watch`]) that every wait reads.
//!
//! Creates are idempotent: an `AlreadyExists` left by an earlier attempt counts as done once
//! the object's `liveLesson` label shows it is ours. Every call is bounded and transient
//! API failures (5xx, 429, connection loss, no answer) are retried briefly in place before
//! the step gives up and the job engine's backoff takes over ([`calls`]). A wait that runs
//! out of time while the API was failing is retried too, never taken for a lab that did
//! not start.

mod budget;
pub mod cached;
pub mod calls;
mod pod_create;
pub mod resources;
pub mod watch;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use kube::api::{DeleteParams, ListParams, LogParams, PostParams};
use kube::core::DynamicObject;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::curriculum::names::JUPYTER_ENDPOINT;

use super::{Backend, BackendError, Health, Livelesson, NamespaceInfo, Result, Settings};
use crate::ids::LivelessonId;
use cached::{JobState, PodState, PodSummary};
use calls::Calls;
use resources::{LABEL_INSTANCE, LABEL_LIVELESSON, LABEL_MANAGED, YES};
use watch::Watched;

/// Lines of each container's log kept with a failure.
const LOG_TAIL_LINES: i64 = 200;

/// Livelessons on a Kubernetes cluster (or kubesim).
pub struct KubernetesBackend {
    client: Client,
    settings: Arc<Settings>,
    calls: Calls,
    pods: Watched<Pod>,
    jobs: Watched<Job>,
    namespaces: Watched<Namespace>,
}

impl std::fmt::Debug for KubernetesBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesBackend")
            .field("instance_id", &self.settings.instance_id)
            .finish_non_exhaustive()
    }
}

impl KubernetesBackend {
    /// A backend on `client`. Starts the shared watches of this instance's pods, jobs and
    /// namespaces (they need a Tokio runtime).
    pub fn new(client: Client, settings: Settings) -> Self {
        let instance = format!(
            "{LABEL_MANAGED}={YES},{LABEL_INSTANCE}={}",
            settings.instance_id
        );
        let calls = Calls::new(settings.api_call_timeout);
        Self {
            pods: Watched::start(Api::all(client.clone()), &instance, calls.clone()),
            jobs: Watched::start(Api::all(client.clone()), &instance, calls.clone()),
            namespaces: Watched::start(Api::all(client.clone()), &instance, calls.clone()),
            calls,
            client,
            settings: Arc::new(settings),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A wait for `what`, begun at `started`, ran out of `timeout`. When a call or watch
    /// of this backend failed meanwhile, what was awaited may have happened unseen (the
    /// node could not report it, or the watch could not deliver it): the failure is
    /// [`BackendError::Unobserved`], which the next attempt waits out again, rather than a
    /// final [`BackendError::Timeout`].
    fn timed_out(
        &self,
        started: Instant,
        what: String,
        timeout: Duration,
        logs: String,
    ) -> BackendError {
        let seconds = timeout.as_secs();
        if self.calls.failed_since(started) {
            BackendError::Unobserved { what, seconds }
        } else {
            BackendError::Timeout {
                what,
                seconds,
                logs,
            }
        }
    }

    fn namespace(&self, livelesson_id: &LivelessonId) -> String {
        self.settings.namespace(livelesson_id)
    }

    fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Creates `object` unless an earlier attempt did; refuses one that is not ours.
    async fn create<K>(&self, api: &Api<K>, object: &K, ll: &Livelesson<'_>) -> Result<()>
    where
        K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let name = object.name_any();
        let resource = plural::<K>();
        let params = PostParams::default();
        match self.calls.run(|| api.create(&params, object)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let existing = self
                    .calls
                    .run(|| api.get(&name))
                    .await
                    .map_err(api_error("get", resource, &name))?;
                let namespace = existing.namespace().unwrap_or_default();
                let owner = existing.labels().get(LABEL_LIVELESSON);
                ensure_ours(resource, &namespace, &name, owner.map(String::as_str), ll)
            }
            Err(err) => Err(api_error("create", resource, &name)(err)),
        }
    }

    async fn create_dynamic(&self, object: &DynamicObject, ll: &Livelesson<'_>) -> Result<()> {
        let namespace = self.namespace(ll.id);
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            &namespace,
            &resources::nad_api_resource(),
        );
        let name = object.name_any();
        let params = PostParams::default();
        match self.calls.run(|| api.create(&params, object)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let existing = self.calls.run(|| api.get(&name)).await.map_err(api_error(
                    "get",
                    "network-attachment-definitions",
                    &name,
                ))?;
                ensure_ours(
                    "network-attachment-definitions",
                    &namespace,
                    &name,
                    existing.labels().get(LABEL_LIVELESSON).map(String::as_str),
                    ll,
                )
            }
            Err(err) => Err(api_error("create", "network-attachment-definitions", &name)(err)),
        }
    }

    /// The endpoint pods a livelesson must have: lesson endpoints, then the jupyter guide.
    fn endpoint_pods(ll: &Livelesson<'_>) -> Vec<String> {
        let mut names: Vec<String> = ll.lesson.endpoints.iter().map(|e| e.name.clone()).collect();
        if ll.lesson.uses_jupyter() {
            names.push(JUPYTER_ENDPOINT.to_owned());
        }
        names
    }

    /// Init and main container logs of a pod, tail only; never fails (a failure to read
    /// logs must not hide the failure being reported).
    async fn pod_logs(&self, namespace: &str, pod: &PodSummary) -> String {
        let api: Api<Pod> = self.api(namespace);
        let name = &pod.name;
        let mut out = String::new();
        for container in &pod.containers {
            let params = LogParams {
                container: Some(container.clone()),
                tail_lines: Some(LOG_TAIL_LINES),
                ..LogParams::default()
            };
            match api.logs(name, &params).await {
                Ok(text) if !text.is_empty() => {
                    let _ = write!(out, "==> {name}/{container} <==\n{text}");
                    if !text.ends_with('\n') {
                        out.push('\n');
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    let _ = writeln!(out, "==> {name}/{container}: logs unavailable: {err}");
                }
            }
        }
        out
    }
}

impl Backend for KubernetesBackend {
    async fn create_namespace(&self, ll: &Livelesson<'_>) -> Result<()> {
        let namespace = resources::namespace(&self.settings, ll);
        let api: Api<Namespace> = Api::all(self.client.clone());
        self.create(&api, &namespace, ll).await
    }

    async fn create_budget(&self, ll: &Livelesson<'_>) -> Result<()> {
        self.apply_budget(ll).await
    }

    async fn create_network_policy(&self, ll: &Livelesson<'_>) -> Result<()> {
        let namespace = self.namespace(ll.id);
        let policy = resources::network_policy(&self.settings, ll);
        self.create(&self.api::<NetworkPolicy>(&namespace), &policy, ll)
            .await
    }

    async fn copy_secrets(&self, ll: &Livelesson<'_>) -> Result<()> {
        let namespace = self.namespace(ll.id);
        let source: Api<Secret> = self.api(&self.settings.secrets_namespace);
        let target: Api<Secret> = self.api(&namespace);
        let names = std::iter::once(self.settings.tls_cert_name.as_str())
            .chain(self.settings.pull_cred_name.as_deref());
        for name in names {
            let secret = match self.calls.run(|| source.get_opt(name)).await {
                Ok(Some(secret)) => secret,
                Ok(None) => {
                    return Err(BackendError::MissingSecret {
                        namespace: self.settings.secrets_namespace.clone(),
                        name: name.to_owned(),
                    });
                }
                Err(err) => return Err(api_error("get", "secrets", name)(err)),
            };
            let copy = resources::secret_copy(&secret, &self.settings, ll);
            self.create(&target, &copy, ll).await?;
        }
        if ll
            .lesson
            .endpoints
            .iter()
            .any(|e| e.configuration_type.is_some())
        {
            let credentials = resources::config_credentials_secret(&self.settings, ll);
            self.create(&target, &credentials, ll).await?;
        }
        Ok(())
    }

    async fn create_lesson_files(&self, ll: &Livelesson<'_>) -> Result<()> {
        let namespace = self.namespace(ll.id);
        let files = resources::lesson_files(&self.settings, ll);
        self.create(&self.api::<ConfigMap>(&namespace), &files, ll)
            .await
    }

    async fn create_networks(&self, ll: &Livelesson<'_>) -> Result<()> {
        for network in resources::network_attachments(&self.settings, ll) {
            self.create_dynamic(&network, ll).await?;
        }
        Ok(())
    }

    async fn create_endpoint(&self, ll: &Livelesson<'_>, endpoint: &str) -> Result<()> {
        let namespace = self.namespace(ll.id);
        let (pod, service, ingresses) = if endpoint == JUPYTER_ENDPOINT {
            (
                resources::jupyter_pod(&self.settings, ll).map_err(build_error)?,
                resources::jupyter_service(&self.settings, ll),
                vec![resources::jupyter_ingress(&self.settings, ll)],
            )
        } else {
            let found = ll.lesson.endpoint(endpoint).ok_or_else(|| {
                BackendError::Build(format!("lesson has no endpoint {endpoint:?}"))
            })?;
            (
                resources::pod(&self.settings, ll, found).map_err(build_error)?,
                resources::service(&self.settings, ll, found),
                resources::ingresses(&self.settings, ll, found),
            )
        };
        self.create_pod(&namespace, &pod, ll).await?;
        self.create(&self.api::<Service>(&namespace), &service, ll)
            .await?;
        let ingress_api = self.api::<Ingress>(&namespace);
        for ingress in &ingresses {
            self.create(&ingress_api, ingress, ll).await?;
        }
        Ok(())
    }

    async fn wait_pods_ready(&self, ll: &Livelesson<'_>) -> Result<()> {
        let namespace = self.namespace(ll.id);
        let wanted = Self::endpoint_pods(ll);
        let timeout = self.settings.pod_ready_timeout;
        let started = Instant::now();
        let outcome = self
            .pods
            .wait_for(started + timeout, |pods| {
                let mut all_ready = true;
                for name in &wanted {
                    match pods.get(&(namespace.clone(), name.clone())) {
                        None => all_ready = false,
                        Some(pod) => match &pod.state {
                            PodState::Ready => {}
                            PodState::Starting => all_ready = false,
                            PodState::Failed(reason) => {
                                return Some(Err((pod.clone(), reason.clone())));
                            }
                        },
                    }
                }
                all_ready.then_some(Ok(()))
            })
            .await;
        match outcome {
            Some(Ok(())) => Ok(()),
            Some(Err((pod, reason))) => Err(BackendError::PodFailed {
                logs: self.pod_logs(&namespace, &pod).await,
                pod: pod.name,
                reason,
            }),
            None => {
                let pending = self
                    .pods
                    .read(Duration::ZERO, |pods| {
                        wanted
                            .iter()
                            .filter_map(|name| {
                                let pod = pods.get(&(namespace.clone(), name.clone()));
                                match pod.map(|p| &p.state) {
                                    Some(PodState::Ready) => None,
                                    _ => Some((name.clone(), pod.cloned())),
                                }
                            })
                            .collect::<Vec<_>>()
                    })
                    .await
                    .unwrap_or_default();
                let mut logs = String::new();
                for (_, pod) in &pending {
                    if let Some(pod) = pod {
                        logs.push_str(&self.pod_logs(&namespace, pod).await);
                    }
                }
                let names: Vec<&str> = pending.iter().map(|(n, _)| n.as_str()).collect();
                Err(self.timed_out(
                    started,
                    format!("pods {} to run", names.join(", ")),
                    timeout,
                    logs,
                ))
            }
        }
    }

    async fn endpoint_hosts(&self, ll: &Livelesson<'_>) -> Result<BTreeMap<String, String>> {
        let namespace = self.namespace(ll.id);
        let api: Api<Service> = self.api(&namespace);
        let selector = format!("{LABEL_LIVELESSON}={}", ll.id);
        let params = ListParams::default().labels(&selector);
        let services = self
            .calls
            .run(|| api.list(&params))
            .await
            .map_err(api_error("list", "services", ""))?;
        let wanted = Self::endpoint_pods(ll);
        let mut hosts = BTreeMap::new();
        for service in services {
            let name = service.name_any();
            let ip = service
                .spec
                .as_ref()
                .and_then(|s| s.cluster_ip.clone())
                .filter(|ip| !ip.is_empty() && ip != "None");
            if let Some(ip) = ip
                && wanted.contains(&name)
            {
                hosts.insert(name, ip);
            }
        }
        if let Some(missing) = wanted.iter().find(|name| !hosts.contains_key(*name)) {
            return Err(BackendError::Build(format!(
                "service {namespace}/{missing} has no cluster IP"
            )));
        }
        Ok(hosts)
    }

    async fn remove_config_jobs(&self, ll: &Livelesson<'_>) -> Result<()> {
        let namespace = self.namespace(ll.id);
        let existing: Vec<String> = self
            .jobs
            .read(Duration::from_secs(30), |jobs| {
                jobs.keys()
                    .filter(|(ns, _)| *ns == namespace)
                    .map(|(_, name)| name.clone())
                    .collect()
            })
            .await
            .unwrap_or_default();
        let api: Api<Job> = self.api(&namespace);
        let params = DeleteParams::background();
        for name in &existing {
            match self.calls.run(|| api.delete(name, &params)).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(err) => return Err(api_error("delete", "jobs", name)(err)),
            }
        }
        if existing.is_empty() {
            return Ok(());
        }
        let timeout = self.settings.job_cleanup_timeout;
        let started = Instant::now();
        let deadline = started + timeout;
        let jobs_gone = self
            .jobs
            .wait_for(deadline, |jobs| {
                (!jobs.keys().any(|(ns, _)| *ns == namespace)).then_some(())
            })
            .await;
        let pods_gone = self
            .pods
            .wait_for(deadline, |pods| {
                (!pods.iter().any(|((ns, _), pod)| {
                    *ns == namespace
                        && pod
                            .labels
                            .get(resources::LABEL_CONFIG_POD)
                            .map(String::as_str)
                            == Some(YES)
                }))
                .then_some(())
            })
            .await;
        if jobs_gone.is_none() || pods_gone.is_none() {
            return Err(self.timed_out(
                started,
                format!("old configuration jobs of {namespace} to go"),
                timeout,
                String::new(),
            ));
        }
        Ok(())
    }

    async fn start_config_jobs(
        &self,
        ll: &Livelesson<'_>,
        stage: usize,
        hosts: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.check_config_pods_fit(ll)?;
        let namespace = self.namespace(ll.id);
        let api: Api<Job> = self.api(&namespace);
        for endpoint in ll
            .lesson
            .endpoints
            .iter()
            .filter(|e| e.configuration_type.is_some())
        {
            let host = hosts.get(&endpoint.name).ok_or_else(|| {
                BackendError::Build(format!("no host recorded for endpoint {}", endpoint.name))
            })?;
            let job = resources::config_job(&self.settings, ll, endpoint, stage, host)
                .map_err(build_error)?;
            self.create(&api, &job, ll).await?;
        }
        Ok(())
    }

    async fn wait_config_jobs(&self, ll: &Livelesson<'_>, stage: usize) -> Result<()> {
        let namespace = self.namespace(ll.id);
        let wanted: Vec<String> = ll
            .lesson
            .endpoints
            .iter()
            .filter(|e| e.configuration_type.is_some())
            .map(|e| crate::curriculum::names::config_job_name(&e.name, stage))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let timeout = self.settings.config_timeout;
        let started = Instant::now();
        let outcome = self
            .jobs
            .wait_for(started + timeout, |jobs| {
                let mut done = true;
                for name in &wanted {
                    match jobs.get(&(namespace.clone(), name.clone())) {
                        Some(JobState::Succeeded) => {}
                        Some(JobState::Failed(reason)) => {
                            return Some(Err((name.clone(), reason.clone())));
                        }
                        Some(JobState::Running) | None => done = false,
                    }
                }
                done.then_some(Ok(()))
            })
            .await;
        match outcome {
            Some(Ok(())) => Ok(()),
            Some(Err((job, reason))) => {
                let logs = self.job_logs(&namespace, &job).await;
                Err(BackendError::JobFailed { job, reason, logs })
            }
            None => Err(self.timed_out(
                started,
                format!("configuration jobs of stage {stage} in {namespace}"),
                timeout,
                String::new(),
            )),
        }
    }

    async fn delete_namespace(&self, livelesson_id: &LivelessonId) -> Result<()> {
        let name = self.namespace(livelesson_id);
        let api: Api<Namespace> = Api::all(self.client.clone());
        let params = DeleteParams::background();
        match self.calls.run(|| api.delete(&name, &params)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(err) => Err(api_error("delete", "namespaces", &name)(err)),
        }
    }

    async fn wait_namespace_gone(&self, livelesson_id: &LivelessonId) -> Result<()> {
        let name = self.namespace(livelesson_id);
        let timeout = self.settings.namespace_delete_timeout;
        let started = Instant::now();
        self.namespaces
            .wait_for(started + timeout, |namespaces| {
                (!namespaces.contains_key(&(String::new(), name.clone()))).then_some(())
            })
            .await
            .ok_or_else(|| {
                self.timed_out(
                    started,
                    format!("namespace {name} to be deleted"),
                    timeout,
                    String::new(),
                )
            })
    }

    async fn list_namespaces(&self) -> Result<Vec<NamespaceInfo>> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let selector = format!(
            "{LABEL_MANAGED}={YES},{LABEL_INSTANCE}={}",
            self.settings.instance_id
        );
        let params = ListParams::default().labels(&selector);
        let list = self
            .calls
            .run(|| api.list(&params))
            .await
            .map_err(api_error("list", "namespaces", ""))?;
        Ok(list
            .into_iter()
            .filter_map(|ns| {
                let livelesson_id = LivelessonId::from(ns.labels().get(LABEL_LIVELESSON)?.as_str());
                Some(NamespaceInfo {
                    name: ns.name_any(),
                    livelesson_id,
                    created_at: ns.metadata.creation_timestamp.as_ref().and_then(|t| {
                        chrono::DateTime::from_timestamp_millis(t.0.as_millisecond())
                    }),
                    terminating: ns.metadata.deletion_timestamp.is_some()
                        || ns.status.as_ref().and_then(|s| s.phase.as_deref())
                            == Some("Terminating"),
                })
            })
            .collect())
    }

    async fn health(&self, ll: &Livelesson<'_>) -> Result<Health> {
        let namespace = self.namespace(ll.id);
        let wanted = Self::endpoint_pods(ll);
        let present = self
            .namespaces
            .read(Duration::from_secs(30), |namespaces| {
                namespaces.contains_key(&(String::new(), namespace.clone()))
            })
            .await
            .unwrap_or(true);
        if !present {
            return Ok(Health::NamespaceMissing);
        }
        let down = self
            .pods
            .read(Duration::from_secs(30), |pods| {
                wanted
                    .iter()
                    .filter(|name| {
                        !matches!(
                            pods.get(&(namespace.clone(), (*name).clone()))
                                .map(|p| &p.state),
                            Some(PodState::Ready)
                        )
                    })
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
        Ok(if down.is_empty() {
            Health::Healthy
        } else {
            Health::PodsDown(down)
        })
    }
}

impl KubernetesBackend {
    /// Logs of the newest pod of a job.
    async fn job_logs(&self, namespace: &str, job: &str) -> String {
        let newest = self
            .pods
            .read(Duration::from_secs(5), |pods| {
                pods.iter()
                    .filter(|((ns, _), pod)| {
                        ns == namespace
                            && pod.labels.get("job-name").map(String::as_str) == Some(job)
                    })
                    .max_by_key(|(_, pod)| pod.created.clone())
                    .map(|(_, pod)| pod.clone())
            })
            .await
            .flatten();
        match newest {
            Some(pod) => self.pod_logs(namespace, &pod).await,
            None => String::new(),
        }
    }
}

fn plural<K: Resource>() -> &'static str
where
    K::DynamicType: Default,
{
    match K::kind(&K::DynamicType::default()).as_ref() {
        "Namespace" => "namespaces",
        "Pod" => "pods",
        "Service" => "services",
        "Secret" => "secrets",
        "ConfigMap" => "configmaps",
        "NetworkPolicy" => "networkpolicies",
        "Ingress" => "ingresses",
        "Job" => "jobs",
        "ResourceQuota" => "resourcequotas",
        "LimitRange" => "limitranges",
        _ => "objects",
    }
}

/// A builder's refusal: an undefined budget size keeps its own variant.
fn build_error(err: resources::Error) -> BackendError {
    match err {
        resources::Error::Budget(unknown) => BackendError::UnknownBudget(unknown),
        other => BackendError::Build(other.to_string()),
    }
}

fn api_error<'a>(
    verb: &'static str,
    resource: &'static str,
    name: &'a str,
) -> impl FnOnce(kube::Error) -> BackendError + 'a {
    move |source| BackendError::Api {
        verb,
        resource,
        name: name.to_owned(),
        source,
    }
}

/// An object an earlier attempt may have made: fine when its livelesson label (`owner`) is
/// `ll`'s,
/// otherwise [`BackendError::NotOurs`] (a name clash with someone else's object).
fn ensure_ours(
    kind: &'static str,
    namespace: &str,
    name: &str,
    owner: Option<&str>,
    ll: &Livelesson<'_>,
) -> Result<()> {
    if owner == Some(ll.id.as_str()) {
        Ok(())
    } else {
        Err(BackendError::NotOurs {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            livelesson: ll.id.to_string(),
        })
    }
}
