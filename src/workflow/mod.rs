//! Livelesson workflows on the job engine: CREATE, MODIFY and DELETE as ordered,
//! checkpointed steps over the store and the backend, and the requests that enqueue them.
//!
//! # Layout
//!
//! - [`request`]: sessions, livelesson requests, heartbeats and kills (state + job in one
//!   transaction).
//! - `create`, `modify`, `delete`: the three workflows; `run`: what they share;
//!   `reachability`: the probing step.

mod create;
mod delete;
mod modify;
mod reachability;
mod record_error;
pub mod request;
mod run;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::backend::{Backend, Settings};
use crate::queue::{JobContext, JobError, JobKind, NewJob, QueueError, Registry};

pub use run::Workflows;

/// Provisioning: a livelesson's CREATE job.
#[derive(Debug)]
pub struct Create;
/// A stage change: a livelesson's MODIFY job.
#[derive(Debug)]
pub struct Modify;
/// Deletion: a livelesson's DELETE job.
#[derive(Debug)]
pub struct Delete;

impl JobKind for Create {
    const NAME: &'static str = "livelesson.create";
    type Args = Args;
}

impl JobKind for Modify {
    const NAME: &'static str = "livelesson.modify";
    type Args = Args;
}

impl JobKind for Delete {
    const NAME: &'static str = "livelesson.delete";
    type Args = Args;
}

/// Job kind of provisioning.
pub const CREATE: &str = Create::NAME;
/// Job kind of a stage change.
pub const MODIFY: &str = Modify::NAME;
/// Job kind of a deletion.
pub const DELETE: &str = Delete::NAME;

/// Arguments of every livelesson job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// The livelesson.
    pub livelesson: String,
    /// Target stage (CREATE and MODIFY).
    pub stage: i32,
}

/// Every job of one livelesson shares this serial key, so they run one at a time, in
/// the order they were requested.
pub fn serial_key(livelesson_id: &str) -> String {
    format!("livelesson:{livelesson_id}")
}

/// Attempts a livelesson job gets before it fails (and the livelesson with it).
pub const MAX_ATTEMPTS: i32 = 8;

/// The job of kind `K` (CREATE, MODIFY or DELETE) for livelesson `id` at `stage`, shaped
/// the same wherever it is enqueued (a learner's request, a kill, an expiry): one pending
/// job per livelesson and kind, since the unique key makes a repeated kill or stage change
/// while one is queued return the queued one.
///
/// # Errors
/// [`QueueError::Arguments`](crate::queue::QueueError::Arguments), which cannot happen for
/// these arguments but is not hidden.
pub fn livelesson_job<K: JobKind<Args = Args>>(
    id: &str,
    stage: i32,
) -> Result<NewJob, crate::queue::QueueError> {
    let args = Args {
        livelesson: id.to_owned(),
        stage,
    };
    Ok(NewJob::of::<K>(&args)?
        .with_serial_key(serial_key(id))
        .with_unique_key(format!("{}:{id}", K::NAME))
        .with_max_attempts(MAX_ATTEMPTS))
}

/// Registers the CREATE, MODIFY and DELETE handlers on `registry`, typed by their kinds.
pub fn register<B: Backend>(registry: &mut Registry, backend: Arc<B>, settings: Arc<Settings>) {
    let workflows = Arc::new(Workflows { backend, settings });
    register_workflow::<Create, B>(registry, workflows.clone(), Kind::Create);
    register_workflow::<Modify, B>(registry, workflows.clone(), Kind::Modify);
    register_workflow::<Delete, B>(registry, workflows, Kind::Delete);
    // A failed CREATE or MODIFY leaves its livelesson in ERROR, once, with the final write.
    for name in [CREATE, MODIFY] {
        registry.on_end(name, Arc::new(record_error::RecordError));
    }
}

/// Registers workflow `kind` as job kind `K`: its span, then the workflow.
fn register_workflow<K: JobKind<Args = Args>, B: Backend>(
    registry: &mut Registry,
    workflows: Arc<Workflows<B>>,
    kind: Kind,
) {
    registry.register_kind::<K, _, _>(move |ctx: JobContext, args: Args| {
        let workflows = workflows.clone();
        let livelesson = args.livelesson.clone();
        let workflow = kind.label();
        // Renamed `<WORKFLOW> <lesson>` once the livelesson is read (`run::describe`).
        let span = tracing::info_span!(
            "livelesson",
            otel.name = format!("{workflow} livelesson"),
            antidote.workflow = workflow,
            antidote.livelesson.id = %livelesson,
            job.id = ctx.id().0,
            antidote.session.id = tracing::field::Empty,
            antidote.lesson.slug = tracing::field::Empty,
            antidote.stage = tracing::field::Empty,
        );
        if let Kind::Create | Kind::Modify = kind {
            span.record("antidote.stage", args.stage);
        }
        ctx.annotate(crate::telemetry::attributes::LIVELESSON_ID, livelesson);
        let workflow_span = span.clone();
        async move {
            let outcome = match kind {
                Kind::Create => workflows.create(ctx).await,
                Kind::Modify => workflows.modify(ctx).await,
                Kind::Delete => workflows.delete(ctx).await,
            };
            // The attempt failed (a cancel, a snooze or a lost lease is no failure).
            if let Err(
                err @ (JobError::Transient(_)
                | JobError::Permanent(_)
                | JobError::Queue(
                    QueueError::Database { .. }
                    | QueueError::StepOutput { .. }
                    | QueueError::Stopped
                    | QueueError::NotFound(_),
                )),
            ) = &outcome
            {
                crate::telemetry::record_error(&workflow_span, &err.to_string());
            }
            outcome
        }
        .instrument(span)
    });
}

#[derive(Clone, Copy)]
enum Kind {
    Create,
    Modify,
    Delete,
}

impl Kind {
    /// The workflow's name in span names and the `antidote.workflow` attribute.
    fn label(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Modify => "MODIFY",
            Self::Delete => "DELETE",
        }
    }
}
