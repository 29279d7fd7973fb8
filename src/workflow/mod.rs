//! Livelesson workflows on the job engine: CREATE, MODIFY and DELETE as ordered,
//! checkpointed steps over the store and the backend, and the requests that enqueue them.
//!
//! # Layout
//!
//! - [`request`]: sessions, livelesson requests, heartbeats and kills (state + job in one
//!   transaction); [`lifetime`]: when a learner's lab expires, and extending it.
//! - `create`, `modify`, `delete`: the three workflows; `run`: what they share;
//!   `reachability`: the probing step.

mod create;
mod delete;
pub mod lifetime;
mod modify;
pub mod plan;
pub mod progress;
mod reachability;
mod record_error;
pub mod request;
mod run;

use std::sync::Arc;

use tracing::Instrument;

use crate::backend::{Backend, Settings};
use crate::queue::{JobContext, JobError, JobKind, QueueError, Registry};

pub use crate::provision::jobs::{
    Args, CREATE, Create, DELETE, Delete, MAX_ATTEMPTS, MODIFY, Modify, livelesson_job, serial_key,
};
pub use run::Workflows;

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
