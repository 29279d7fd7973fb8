//! The CREATE workflow's plan: the ordered steps that provision one livelesson, derived in
//! this one place from its lesson, its stage and the egress setting.
//!
//! CREATE checkpoints the plan as its first step ([`PLAN_STEP`], the plan is that step's
//! output) and then runs exactly these steps, in this order. The progress stream
//! ([`super::progress`]) reads the checkpointed plan back from the job engine's tables,
//! so what it reports can never disagree with the steps CREATE runs, whichever process
//! (and configuration) serves the stream.

use serde::{Deserialize, Serialize};

use crate::curriculum::Lesson;
use crate::curriculum::names::JUPYTER_ENDPOINT;

/// The checkpoint whose output is the plan.
pub const PLAN_STEP: &str = "plan";

/// One step of CREATE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Checks that the curriculum defines every image the lesson uses.
    Images,
    /// Creates the livelesson's namespace.
    Namespace,
    /// Locks egress down (unless egress is allowed).
    NetworkPolicy,
    /// Copies the TLS (and image pull) secrets.
    Secrets,
    /// Stores the lesson files.
    LessonFiles,
    /// Creates the connections' networks (lessons with connections).
    Networks,
    /// Creates one endpoint (lesson order, the jupyter guide last).
    Endpoint {
        /// The endpoint's name.
        name: String,
    },
    /// Sets status BOOTING.
    Booting,
    /// Waits for every pod to be ready.
    PodsReady,
    /// Stores the endpoints' hosts.
    Hosts,
    /// Probes every endpoint until it answers.
    Reachability,
    /// Sets status CONFIGURATION.
    Configuration,
    /// Removes configuration jobs of earlier stages (lessons with configurable endpoints).
    ConfigCleanup {
        /// The stage configured.
        stage: i32,
    },
    /// Starts the stage's configuration jobs.
    ConfigStart {
        /// The stage configured.
        stage: i32,
    },
    /// Waits for the configuration jobs.
    ConfigWait {
        /// The stage configured.
        stage: i32,
    },
    /// Waits the lesson's ready delay (lessons that have one); the step completes when the
    /// wait begins.
    ReadyDelay {
        /// The delay in seconds.
        secs: u32,
    },
    /// Sets status READY.
    Ready,
}

/// The steps of CREATE for `lesson` at `stage`; `allow_egress` leaves the egress
/// lockdown out.
pub fn create_plan(lesson: &Lesson, stage: i32, allow_egress: bool) -> Vec<Step> {
    let mut plan = vec![Step::Images, Step::Namespace];
    if !allow_egress {
        plan.push(Step::NetworkPolicy);
    }
    plan.extend([Step::Secrets, Step::LessonFiles]);
    if !lesson.connections.is_empty() {
        plan.push(Step::Networks);
    }
    plan.extend(lesson.endpoints.iter().map(|e| Step::Endpoint {
        name: e.name.clone(),
    }));
    if lesson.uses_jupyter() {
        plan.push(Step::Endpoint {
            name: JUPYTER_ENDPOINT.to_owned(),
        });
    }
    plan.extend([
        Step::Booting,
        Step::PodsReady,
        Step::Hosts,
        Step::Reachability,
        Step::Configuration,
    ]);
    if lesson
        .endpoints
        .iter()
        .any(|e| e.configuration_type.is_some())
    {
        plan.extend([
            Step::ConfigCleanup { stage },
            Step::ConfigStart { stage },
            Step::ConfigWait { stage },
        ]);
    }
    if lesson.ready_delay > 0 {
        plan.push(Step::ReadyDelay {
            secs: lesson.ready_delay,
        });
    }
    plan.push(Step::Ready);
    plan
}

impl Step {
    /// The step's checkpoint name in the job engine's tables (`images`,
    /// `endpoint:linux1`, `config-wait:0`, `status:READY`, ...).
    pub fn checkpoint(&self) -> String {
        match self {
            Self::Images => "images".into(),
            Self::Namespace => "namespace".into(),
            Self::NetworkPolicy => "network-policy".into(),
            Self::Secrets => "secrets".into(),
            Self::LessonFiles => "lesson-files".into(),
            Self::Networks => "networks".into(),
            Self::Endpoint { name } => format!("endpoint:{name}"),
            Self::Booting => "status:BOOTING".into(),
            Self::PodsReady => "pods-ready".into(),
            Self::Hosts => "hosts".into(),
            Self::Reachability => "reachability".into(),
            Self::Configuration => "status:CONFIGURATION".into(),
            Self::ConfigCleanup { stage } => format!("config-cleanup:{stage}"),
            Self::ConfigStart { stage } => format!("config-start:{stage}"),
            Self::ConfigWait { stage } => format!("config-wait:{stage}"),
            Self::ReadyDelay { .. } => "ready-delay".into(),
            Self::Ready => "status:READY".into(),
        }
    }

    /// What the step did, in a learner's words (the progress stream's message once it
    /// completed).
    pub fn message(&self) -> String {
        match self {
            Self::Images => "Checked the lab's images".into(),
            Self::Namespace => "Created the lab's own space on the cluster".into(),
            Self::NetworkPolicy => "Closed the lab off from the internet".into(),
            Self::Secrets => "Copied the lab's certificates".into(),
            Self::LessonFiles => "Copied the lesson's files".into(),
            Self::Networks => "Wired the networks between the endpoints".into(),
            Self::Endpoint { name } => format!("Started endpoint {name}"),
            Self::Booting => "Endpoints are booting".into(),
            Self::PodsReady => "Every endpoint has booted".into(),
            Self::Hosts => "Found the endpoints' addresses".into(),
            Self::Reachability => "Every endpoint answers".into(),
            Self::Configuration => "Configuring the endpoints".into(),
            Self::ConfigCleanup { .. } => "Cleared earlier configuration".into(),
            Self::ConfigStart { stage } => {
                format!("Started configuring the endpoints for part {stage}")
            }
            Self::ConfigWait { stage } => format!("Configured the endpoints for part {stage}"),
            Self::ReadyDelay { secs } => {
                format!("Letting the endpoints settle for {secs} seconds")
            }
            Self::Ready => "Your lab is ready".into(),
        }
    }

    /// The endpoint the step works on, if one.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Self::Endpoint { name } => Some(name),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_through_the_stored_plan() {
        let plan = vec![
            Step::Images,
            Step::Endpoint {
                name: "linux1".into(),
            },
            Step::ConfigWait { stage: 2 },
            Step::ReadyDelay { secs: 5 },
            Step::Ready,
        ];
        let stored = serde_json::to_value(&plan).expect("serialisable");
        let back: Vec<Step> = serde_json::from_value(stored).expect("readable");
        assert_eq!(back, plan);
        let names: Vec<String> = back.iter().map(Step::checkpoint).collect();
        assert_eq!(
            names,
            [
                "images",
                "endpoint:linux1",
                "config-wait:2",
                "ready-delay",
                "status:READY"
            ]
        );
        assert_eq!(plan[1].message(), "Started endpoint linux1");
        assert_eq!(plan[1].endpoint(), Some("linux1"));
    }
}
