//! Applying a livelesson's resource budget: its ResourceQuota and LimitRange, created
//! before any pod, and the quota waited on until the API server enforces it.

use std::time::Duration;

use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use kube::Api;
use tokio::time::Instant;

use super::{KubernetesBackend, api_error, build_error, resources};
use crate::backend::budget::QUOTA_NAME;
use crate::backend::{BackendError, Livelesson, Result};

/// Pause between two reads of a new quota's status.
const STATUS_POLL: Duration = Duration::from_millis(100);

impl KubernetesBackend {
    /// Creates the quota and the limit range, then waits until the quota has a status:
    /// kube-apiserver's quota admission refuses every pod of a namespace whose quota the
    /// quota controller has not counted yet ("status unknown for quota"), which a pod
    /// created at once would meet.
    pub(super) async fn apply_budget(&self, ll: &Livelesson<'_>) -> Result<()> {
        let namespace = self.namespace(ll.id);
        let quota = resources::budget::resource_quota(&self.settings, ll).map_err(build_error)?;
        let range = resources::budget::limit_range(&self.settings, ll).map_err(build_error)?;
        let quotas: Api<ResourceQuota> = self.api(&namespace);
        self.create(&quotas, &quota, ll).await?;
        self.create(&self.api::<LimitRange>(&namespace), &range, ll)
            .await?;
        let timeout = self.settings.api_call_timeout;
        let started = Instant::now();
        loop {
            let current = self
                .calls
                .run(|| quotas.get(QUOTA_NAME))
                .await
                .map_err(api_error("get", "resourcequotas", QUOTA_NAME))?;
            let counted = current
                .status
                .as_ref()
                .and_then(|status| status.hard.as_ref())
                .is_some_and(|hard| !hard.is_empty());
            if counted {
                return Ok(());
            }
            if started.elapsed() >= timeout {
                return Err(self.timed_out(
                    started,
                    format!("ResourceQuota {namespace}/{QUOTA_NAME} to be counted by the quota controller"),
                    timeout,
                    String::new(),
                ));
            }
            tokio::time::sleep(STATUS_POLL).await;
        }
    }

    /// Refuses, before any configuration job is created, configuration pods that would not
    /// fit beside the endpoint pods: the job controller would meet the quota's refusal
    /// and the job would never start, which we would see only as a timeout.
    pub(super) fn check_config_pods_fit(&self, ll: &Livelesson<'_>) -> Result<()> {
        let plan = resources::budget::plan(&self.settings, ll).map_err(build_error)?;
        match plan.config_refusal() {
            None => Ok(()),
            Some(refusal) => Err(BackendError::OverBudget {
                quota: QUOTA_NAME.to_owned(),
                message: format!(
                    "configuration pods of {} would be refused: {refusal}",
                    self.namespace(ll.id)
                ),
            }),
        }
    }
}
