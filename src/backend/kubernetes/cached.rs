//! What the shared watch caches keep of each object: a small summary of what the waits
//! read (a pod's labels, container names and start state, a job's outcome), computed once
//! as the object arrives.
//!
//! Decoded k8s-openapi objects are large even when mostly empty (a `Pod` is 2 KB before
//! any of its strings, each `Container` another 2 KB), and a worker caches every pod and
//! job of every livelesson it can see: whole objects made the caches most of a worker's
//! memory (160 of 170 MB of heap at 1,000 livelessons in `bench lessons`).

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// A watched kind and the summary its cache keeps.
pub trait Cached {
    /// What the cache keeps of one object.
    type Summary: Send + Sync + 'static;
    /// The summary, taking the object apart.
    fn summarize(self) -> Self::Summary;
}

/// What the waits know of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSummary {
    /// Pod name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Creation time.
    pub created: Option<Time>,
    /// Init then main container names (for reading logs).
    pub containers: Vec<String>,
    /// What its status says about its start.
    pub state: PodState,
}

impl Cached for Pod {
    type Summary = PodSummary;

    fn summarize(self) -> PodSummary {
        let state = pod_state(&self);
        let containers = self
            .spec
            .map(|spec| {
                spec.init_containers
                    .into_iter()
                    .flatten()
                    .chain(spec.containers)
                    .map(|c| c.name)
                    .collect()
            })
            .unwrap_or_default();
        PodSummary {
            name: self.metadata.name.unwrap_or_default(),
            labels: self.metadata.labels.unwrap_or_default(),
            created: self.metadata.creation_timestamp,
            containers,
            state,
        }
    }
}

impl Cached for Job {
    type Summary = JobState;

    fn summarize(self) -> JobState {
        job_state(&self)
    }
}

/// Namespaces are waited for by name only.
impl Cached for Namespace {
    type Summary = ();

    fn summarize(self) {}
}

/// What a pod's status says about its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodState {
    /// Running and ready.
    Ready,
    /// Not yet.
    Starting,
    /// It will not start without outside help: why.
    Failed(String),
}

/// Waiting reasons after which a pod will not start without outside help.
const FATAL_WAITING: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
];

fn pod_state(pod: &Pod) -> PodState {
    let Some(status) = pod.status.as_ref() else {
        return PodState::Starting;
    };
    if status.phase.as_deref() == Some("Failed") {
        return PodState::Failed(status.reason.clone().unwrap_or_else(|| "pod failed".into()));
    }
    for init in status.init_container_statuses.iter().flatten() {
        if let Some(terminated) = init.state.as_ref().and_then(|s| s.terminated.as_ref())
            && terminated.exit_code != 0
        {
            return PodState::Failed(format!(
                "init container {} exited with code {}",
                init.name, terminated.exit_code
            ));
        }
    }
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for container in containers {
        if let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref())
            && let Some(reason) = waiting.reason.as_deref()
            && FATAL_WAITING.contains(&reason)
        {
            let message = waiting.message.as_deref().unwrap_or("");
            return PodState::Failed(
                format!("container {}: {reason} {message}", container.name)
                    .trim_end()
                    .to_owned(),
            );
        }
    }
    let running = status.phase.as_deref() == Some("Running");
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if running && ready {
        PodState::Ready
    } else {
        PodState::Starting
    }
}

/// What a job's status says about its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Not finished.
    Running,
    /// Succeeded.
    Succeeded,
    /// Failed for good: why.
    Failed(String),
}

fn job_state(job: &Job) -> JobState {
    let Some(status) = job.status.as_ref() else {
        return JobState::Running;
    };
    for condition in status.conditions.iter().flatten() {
        if condition.status == "True" {
            match condition.type_.as_str() {
                "Complete" => return JobState::Succeeded,
                "Failed" => {
                    return JobState::Failed(
                        condition
                            .message
                            .clone()
                            .or_else(|| condition.reason.clone())
                            .unwrap_or_else(|| "job failed".into()),
                    );
                }
                _ => {}
            }
        }
    }
    if status.succeeded.unwrap_or(0) > 0 {
        JobState::Succeeded
    } else {
        JobState::Running
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        Container, ContainerState, ContainerStateWaiting, ContainerStatus, PodCondition, PodSpec,
        PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn pod(status: PodStatus) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("host-a".into()),
                labels: Some(BTreeMap::from([("job-name".into(), "config".into())])),
                annotations: Some(BTreeMap::from([("big".into(), "x".repeat(1000))])),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                init_containers: Some(vec![Container {
                    name: "copy-files".into(),
                    ..Container::default()
                }]),
                containers: vec![Container {
                    name: "main".into(),
                    image: Some("antidotelabs/utility".into()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            status: Some(status),
        }
    }

    #[test]
    fn a_pod_summary_keeps_name_labels_containers_and_start_state() {
        let summary = pod(PodStatus {
            phase: Some("Running".into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        })
        .summarize();
        assert_eq!(summary.name, "host-a");
        assert_eq!(summary.labels["job-name"], "config");
        assert_eq!(summary.containers, ["copy-files", "main"]);
        assert_eq!(summary.state, PodState::Ready);
    }

    #[test]
    fn a_pod_that_cannot_pull_its_image_is_summarized_as_failed() {
        let summary = pod(PodStatus {
            phase: Some("Pending".into()),
            container_statuses: Some(vec![ContainerStatus {
                name: "main".into(),
                state: Some(ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some("ImagePullBackOff".into()),
                        message: Some("no such image".into()),
                    }),
                    ..ContainerState::default()
                }),
                ..ContainerStatus::default()
            }]),
            ..PodStatus::default()
        })
        .summarize();
        assert_eq!(
            summary.state,
            PodState::Failed("container main: ImagePullBackOff no such image".into())
        );
    }

    #[test]
    fn a_job_summary_is_its_outcome() {
        use k8s_openapi::api::batch::v1::JobStatus;
        let job = |status: JobStatus| Job {
            status: Some(status),
            ..Job::default()
        };
        assert_eq!(job(JobStatus::default()).summarize(), JobState::Running);
        let succeeded = JobStatus {
            succeeded: Some(1),
            ..JobStatus::default()
        };
        assert_eq!(job(succeeded).summarize(), JobState::Succeeded);
    }
}
