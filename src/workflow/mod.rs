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
pub mod request;
mod run;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::backend::{Backend, Settings};
use crate::queue::{JobContext, Registry};

pub use run::Workflows;

/// Job kind of provisioning.
pub const CREATE: &str = "livelesson.create";
/// Job kind of a stage change.
pub const MODIFY: &str = "livelesson.modify";
/// Job kind of a deletion.
pub const DELETE: &str = "livelesson.delete";

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

/// Registers the CREATE, MODIFY and DELETE handlers on `registry`.
pub fn register<B: Backend>(registry: &mut Registry, backend: Arc<B>, settings: Arc<Settings>) {
    let workflows = Arc::new(Workflows { backend, settings });
    let handlers: [(&str, Kind); 3] = [
        (CREATE, Kind::Create),
        (MODIFY, Kind::Modify),
        (DELETE, Kind::Delete),
    ];
    for (name, kind) in handlers {
        let workflows = workflows.clone();
        registry.register(name, move |ctx: JobContext| {
            let workflows = workflows.clone();
            let args = ctx.args::<Args>().ok();
            let livelesson = args
                .as_ref()
                .map(|a| a.livelesson.clone())
                .unwrap_or_default();
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
            if let (Kind::Create | Kind::Modify, Some(args)) = (kind, &args) {
                span.record("antidote.stage", args.stage);
            }
            ctx.annotate(crate::telemetry::attributes::LIVELESSON_ID, livelesson);
            async move {
                match kind {
                    Kind::Create => workflows.create(ctx).await,
                    Kind::Modify => workflows.modify(ctx).await,
                    Kind::Delete => workflows.delete(ctx).await,
                }
            }
            .instrument(span)
        });
    }
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
