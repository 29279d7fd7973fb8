//! A livelesson's provisioning progress as the database records it, and what a progress
//! stream reports of it: each step of the CREATE plan ([`super::plan`]) once its
//! checkpoint is written, then one final update (ready, failed, or stopped).
//!
//! Everything here is read from the database (the livelesson row and the job engine's
//! checkpoints), so any API process reports the progress of a CREATE that any worker
//! runs. [`Tracker`] is pure: it turns successive [`Snapshot`]s into updates.

use std::collections::HashSet;

use sqlx::PgExecutor;

use super::plan::{PLAN_STEP, Step};
use super::request::RequestError;
use crate::ids::LivelessonId;
use crate::provision::jobs::{CREATE, serial_key};
use crate::store::livelesson::Status;
use crate::store::{StoreError, progress};

/// One livelesson's state as a progress stream sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The livelesson, `None` once it is gone.
    pub livelesson: Option<Current>,
    /// Its CREATE's plan, once checkpointed.
    pub plan: Option<Vec<Step>>,
    /// The checkpoints its CREATE has completed.
    pub completed: HashSet<String>,
}

/// A livelesson's status as a progress stream sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// Its status.
    pub status: Status,
    /// A DELETE was requested (a kill, an expiry).
    pub deleting: bool,
    /// A spare in a warm pool: nobody's, answered as unknown.
    pub spare: bool,
    /// The learner-facing failure (as `GET /exp/livelesson/{id}` answers it), in ERROR.
    pub failure: Option<String>,
}

impl Snapshot {
    /// Whether a learner may see this livelesson's progress (it exists and is no spare).
    pub fn is_learners(&self) -> bool {
        self.livelesson.as_ref().is_some_and(|l| !l.spare)
    }
}

/// The snapshots of `ids`, in one statement; gone livelessons have no livelesson.
///
/// # Errors
/// [`StoreError::Database`].
pub async fn read(
    executor: impl PgExecutor<'_>,
    ids: &[LivelessonId],
) -> Result<Vec<(LivelessonId, Snapshot)>, StoreError> {
    let keys: Vec<String> = ids.iter().map(serial_key).collect();
    let ids: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
    let rows = progress::read(executor, &ids, &keys, CREATE, PLAN_STEP).await?;
    Ok(rows.into_iter().map(snapshot).collect())
}

fn snapshot(row: progress::ProgressRow) -> (LivelessonId, Snapshot) {
    let id = LivelessonId::from(row.id);
    let livelesson = row.status.map(|status| Current {
        status,
        deleting: row.deleting,
        spare: row.spare,
        failure: (status == Status::Error).then(|| {
            RequestError::Failed {
                id: id.clone(),
                reason: row.error_reason.unwrap_or_default(),
            }
            .to_string()
        }),
    });
    // A plan that does not decode (written by a newer version) reports no steps; the
    // final update still comes from the livelesson's status.
    let plan = row.plan.and_then(|plan| match serde_json::from_value(plan) {
        Ok(plan) => Some(plan),
        Err(err) => {
            tracing::warn!(livelesson = %id, error = %err, "a CREATE plan that does not decode");
            None
        }
    });
    let snapshot = Snapshot {
        livelesson,
        plan,
        completed: row.completed.into_iter().collect(),
    };
    (id, snapshot)
}

/// What a progress stream reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// A step of the plan completed.
    Step {
        /// 0..100: the step's place in the plan.
        progress: u8,
        /// The step's checkpoint name.
        name: String,
        /// What it did, in a learner's words.
        message: String,
        /// The endpoint it worked on, if one.
        endpoint: Option<String>,
    },
    /// The livelesson is READY. Final.
    Ready {
        /// In a learner's words.
        message: String,
    },
    /// The livelesson failed. Final.
    Failed {
        /// The learner-facing failure.
        message: String,
    },
    /// The livelesson was killed, expired or deleted. Final.
    Stopped {
        /// In a learner's words.
        message: String,
    },
}

impl Update {
    /// Whether the stream ends with this update.
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Step { .. })
    }
}

/// What a learner is told when their lab is stopped while they watch it start.
pub const STOPPED: &str = "This lab was stopped (killed, expired or deleted) before it was ready.";

/// Turns the snapshots of one livelesson into updates: every step of its plan once, in
/// plan order, then the final update. A livelesson already final when first seen gets
/// the final update only.
#[derive(Debug, Default)]
pub struct Tracker {
    /// Plan steps reported so far (a prefix of the plan).
    reported: usize,
    /// Whether a snapshot has been seen.
    seen: bool,
    /// Whether the final update was made.
    done: bool,
}

impl Tracker {
    /// The updates `snapshot` brings since the last one; empty once done.
    pub fn next(&mut self, snapshot: &Snapshot) -> Vec<Update> {
        if self.done {
            return Vec::new();
        }
        let first = !self.seen;
        self.seen = true;
        let last = match &snapshot.livelesson {
            None => Some(Update::Stopped {
                message: STOPPED.into(),
            }),
            Some(current) if current.deleting => Some(Update::Stopped {
                message: STOPPED.into(),
            }),
            Some(current) => match current.status {
                Status::Error => Some(Update::Failed {
                    message: current.failure.clone().unwrap_or_default(),
                }),
                Status::Ready => Some(Update::Ready {
                    message: Step::Ready.message(),
                }),
                Status::Initialized | Status::Booting | Status::Configuration => None,
            },
        };
        let mut updates = Vec::new();
        // Steps are worth reporting while the lab is starting, and on the way to READY;
        // a lab found final at once gets its final update alone.
        let quiet = match &last {
            Some(Update::Stopped { .. }) => true,
            Some(_) => first,
            None => false,
        };
        // A CREATE that has finished has nothing left to report: a lab between a stage
        // change and READY waits for the final update alone.
        let created = snapshot.completed.contains(&Step::Ready.checkpoint());
        if first && created {
            self.reported = snapshot.plan.as_ref().map_or(0, Vec::len);
        }
        if !quiet && let Some(plan) = &snapshot.plan {
            let total = plan.len().max(1);
            for (index, step) in plan.iter().enumerate().skip(self.reported) {
                // The last step, READY, is reported as the final update.
                if *step == Step::Ready {
                    break;
                }
                if !snapshot.completed.contains(&step.checkpoint()) {
                    break;
                }
                let progress = u8::try_from((index + 1) * 100 / total).unwrap_or(99);
                updates.push(Update::Step {
                    progress: progress.min(99),
                    name: step.checkpoint(),
                    message: step.message(),
                    endpoint: step.endpoint().map(str::to_owned),
                });
                self.reported = index + 1;
            }
        }
        if let Some(last) = last {
            self.done = true;
            updates.push(last);
        }
        updates
    }

    /// Whether the final update was made.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current(status: Status) -> Current {
        Current {
            status,
            deleting: false,
            spare: false,
            failure: (status == Status::Error).then(|| "Sorry".to_owned()),
        }
    }

    fn plan() -> Vec<Step> {
        vec![
            Step::Images,
            Step::Endpoint { name: "r1".into() },
            Step::Booting,
            Step::Ready,
        ]
    }

    fn at(status: Status, done: &[&str]) -> Snapshot {
        Snapshot {
            livelesson: Some(current(status)),
            plan: Some(plan()),
            completed: done.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn names(updates: &[Update]) -> Vec<String> {
        updates
            .iter()
            .map(|u| match u {
                Update::Step { name, progress, .. } => format!("{name}@{progress}"),
                Update::Ready { .. } => "READY".into(),
                Update::Failed { .. } => "FAILED".into(),
                Update::Stopped { .. } => "STOPPED".into(),
            })
            .collect()
    }

    #[test]
    fn steps_are_reported_once_in_plan_order_then_ready() {
        let mut tracker = Tracker::default();
        assert!(tracker.next(&at(Status::Initialized, &[])).is_empty());
        assert_eq!(
            names(&tracker.next(&at(Status::Initialized, &["plan", "images"]))),
            ["images@25"]
        );
        assert_eq!(
            names(&tracker.next(&at(
                Status::Booting,
                &["plan", "images", "endpoint:r1", "status:BOOTING"]
            ))),
            ["endpoint:r1@50", "status:BOOTING@75"]
        );
        let all = [
            "plan",
            "images",
            "endpoint:r1",
            "status:BOOTING",
            "status:READY",
        ];
        assert_eq!(names(&tracker.next(&at(Status::Ready, &all))), ["READY"]);
        assert!(tracker.is_done());
        assert!(tracker.next(&at(Status::Ready, &all)).is_empty());
    }

    #[test]
    fn a_lab_final_when_first_seen_gets_one_update() {
        let all = [
            "plan",
            "images",
            "endpoint:r1",
            "status:BOOTING",
            "status:READY",
        ];
        assert_eq!(
            names(&Tracker::default().next(&at(Status::Ready, &all))),
            ["READY"]
        );
        assert_eq!(
            names(&Tracker::default().next(&at(Status::Error, &["plan"]))),
            ["FAILED"]
        );
    }

    #[test]
    fn a_stage_change_reports_no_create_step_again() {
        let all = [
            "plan",
            "images",
            "endpoint:r1",
            "status:BOOTING",
            "status:READY",
        ];
        let mut tracker = Tracker::default();
        assert!(tracker.next(&at(Status::Configuration, &all)).is_empty());
        assert_eq!(names(&tracker.next(&at(Status::Ready, &all))), ["READY"]);
    }

    #[test]
    fn a_failure_or_a_kill_ends_the_stream() {
        let mut tracker = Tracker::default();
        tracker.next(&at(Status::Initialized, &[]));
        let failed = tracker.next(&at(Status::Error, &["plan", "images"]));
        assert_eq!(names(&failed), ["images@25", "FAILED"]);
        assert_eq!(
            failed.last(),
            Some(&Update::Failed {
                message: "Sorry".into()
            })
        );
        let mut tracker = Tracker::default();
        tracker.next(&at(Status::Booting, &["plan"]));
        let gone = Snapshot {
            livelesson: None,
            plan: None,
            completed: HashSet::new(),
        };
        assert_eq!(names(&tracker.next(&gone)), ["STOPPED"]);
    }
}
