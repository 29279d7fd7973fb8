//! Creating an endpoint pod idempotently under a resource budget.
//!
//! kube-apiserver's quota admission runs before the store would answer AlreadyExists, and
//! it charges the pod to the quota's usage as it admits it: a pod sent again after a crash
//! would be counted twice (until the quota controller recounts) or refused as one pod too
//! many instead of "already exists". So a pod the shared watch already shows is not sent
//! again, and a refusal (409, or a quota's 403) is checked against the watch: a pod of
//! this livelesson by that name is the earlier attempt's, and the create is done.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use tokio::time::Instant;

use super::resources::LABEL_LIVELESSON;
use super::{KubernetesBackend, api_error, ensure_ours};
use crate::backend::{BackendError, Livelesson, Result, error};

/// How long a pod the API server says exists may take to reach the shared watch.
const WATCH_LAG: Duration = Duration::from_secs(5);

impl KubernetesBackend {
    /// Creates `pod` in `namespace` unless an earlier attempt did.
    pub(super) async fn create_pod(
        &self,
        namespace: &str,
        pod: &Pod,
        ll: &Livelesson<'_>,
    ) -> Result<()> {
        let name = pod.name_any();
        let key = (namespace.to_owned(), name.clone());
        let owner = |pods: &super::watch::Objects<Pod>| {
            pods.get(&key)
                .map(|p| p.labels.get(LABEL_LIVELESSON).cloned().unwrap_or_default())
        };
        let seen = self.pods.read(Duration::ZERO, &owner).await.flatten();
        if let Some(owner) = seen {
            return ensure_ours("pods", namespace, &name, Some(&owner), ll);
        }
        let api: Api<Pod> = self.api(namespace);
        let params = PostParams::default();
        let status = match self.calls.run(|| api.create(&params, pod)).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status))
                if status.code == 409 || error::quota_refusal(&status).is_some() =>
            {
                status
            }
            Err(err) => return Err(api_error("create", "pods", &name)(err)),
        };
        let quota = error::quota_refusal(&status);
        let seen = if quota.is_some() {
            // Refused: there is a pod by that name only if an earlier attempt made it, which
            // the watch shows once it has synced.
            self.pods.read(WATCH_LAG, &owner).await.flatten()
        } else {
            // It exists: wait for the watch to show whose it is.
            self.pods.wait_for(Instant::now() + WATCH_LAG, &owner).await
        };
        match (seen, quota) {
            (Some(owner), _) => ensure_ours("pods", namespace, &name, Some(&owner), ll),
            (None, Some(quota)) => Err(BackendError::OverBudget {
                quota,
                message: status.message.clone(),
            }),
            (None, None) => Err(api_error("create", "pods", &name)(kube::Error::Api(status))),
        }
    }
}
