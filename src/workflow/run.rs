//! What every livelesson workflow shares: loading the pinned livelesson, turning backend
//! and store failures into job errors, and noting which step failed and its logs for the
//! end hook that records ERROR (`record_error`).

use std::sync::Arc;

use crate::backend::{self, Backend, BackendError, Settings};
use crate::curriculum::{ContentHash, Lesson};
use crate::ids::LivelessonId;
use crate::queue::{FailureNote, JobContext, JobError};
use crate::store::StoreError;
use crate::store::curriculum;
use crate::store::livelesson::{self, Livelesson, Status};

/// The workflows' shared parts: backend and settings.
pub struct Workflows<B> {
    pub(crate) backend: Arc<B>,
    pub(crate) settings: Arc<Settings>,
}

impl<B> std::fmt::Debug for Workflows<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workflows").finish_non_exhaustive()
    }
}

/// A livelesson with its pinned lesson, as a workflow sees it.
pub(crate) struct Loaded {
    pub row: Livelesson,
    pub lesson: Lesson,
}

impl Loaded {
    /// The backend's view of it.
    pub fn view(&self) -> backend::Livelesson<'_> {
        backend::Livelesson {
            id: &self.row.id,
            session_id: &self.row.session_id,
            lesson: &self.lesson,
            images: &self.row.images,
        }
    }
}

/// Notes the step in progress and logs captured by its failure in the job's
/// [`FailureNote`], which the end hook receives.
pub(crate) struct Progress {
    note: Arc<FailureNote>,
}

impl Progress {
    /// The progress of `ctx`'s attempt.
    pub fn of(ctx: &JobContext) -> Self {
        Self {
            note: ctx.failure_note().clone(),
        }
    }

    /// Notes the step about to run (for the ERROR record).
    pub fn at(&self, step: &str) {
        self.note.at(step);
    }

    /// Converts a backend failure, keeping its logs for the ERROR record.
    pub fn backend(&self, err: BackendError) -> JobError {
        if let BackendError::Api { verb, resource, .. } = &err {
            crate::telemetry::metrics()
                .kubernetes_api_errors
                .with_label_values(&[verb, resource])
                .inc();
        }
        if let Some(logs) = err.logs() {
            self.note.detail(logs);
        }
        if err.is_transient() {
            JobError::transient(err)
        } else {
            JobError::permanent(err)
        }
    }
}

/// Runs backend call `call` as checkpointed step `name`, noting the step for an ERROR
/// record and converting its failure.
pub(crate) async fn backend_step<T, Fut>(
    ctx: &JobContext,
    progress: &Progress,
    name: &str,
    call: impl FnOnce() -> Fut,
) -> Result<T, JobError>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    Fut: std::future::Future<Output = Result<T, BackendError>>,
{
    backend_step_with(ctx, progress, name, &[], call).await
}

/// [`backend_step`] whose span also carries `attributes` (what the step works on, e.g.
/// its endpoint).
pub(crate) async fn backend_step_with<T, Fut>(
    ctx: &JobContext,
    progress: &Progress,
    name: &str,
    attributes: &[(&'static str, &str)],
    call: impl FnOnce() -> Fut,
) -> Result<T, JobError>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    Fut: std::future::Future<Output = Result<T, BackendError>>,
{
    progress.at(name);
    ctx.step_with(name, attributes, || async {
        call().await.map_err(|e| progress.backend(e))
    })
    .await
}

/// Names the workflow span after the livelesson (`CREATE router-configuration`), records
/// its session and lesson there and on every later step span, and links a MODIFY's or
/// DELETE's span to the trace of the request that created the livelesson.
pub(crate) async fn describe(
    ctx: &JobContext,
    conn: &mut sqlx::PgConnection,
    row: &Livelesson,
) -> Result<(), JobError> {
    use crate::telemetry::attributes::{LESSON_SLUG, SESSION_ID};
    let span = tracing::Span::current();
    let workflow = match ctx.kind() {
        super::CREATE => "CREATE",
        super::MODIFY => "MODIFY",
        _ => "DELETE",
    };
    {
        // The span has started: its name changes through OpenTelemetry, not `record`.
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        span.context()
            .span()
            .update_name(format!("{workflow} {}", row.lesson_slug));
    }
    span.record(SESSION_ID, row.session_id.as_str());
    span.record(LESSON_SLUG, row.lesson_slug.as_str());
    ctx.annotate(SESSION_ID, row.session_id.as_str());
    ctx.annotate(LESSON_SLUG, &row.lesson_slug);
    if ctx.kind() != super::CREATE {
        // CREATE's own cause is that trace already.
        let first = livelesson::first_trace(conn, &row.id)
            .await
            .map_err(store)?;
        crate::telemetry::link(&span, first.as_deref(), "livelesson.first");
    }
    Ok(())
}

/// A transaction fenced by `ctx`'s lease whose commit waits for the WAL flush (and the
/// synchronous standby, where there is one): what a learner or operator sees of a
/// livelesson (its status, hosts, deletion) survives an unclean PostgreSQL crash and a
/// failover, although the worker's pool commits its own bookkeeping asynchronously
/// ([`crate::db::connect_worker`]).
pub(crate) async fn durable(
    ctx: &JobContext,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, JobError> {
    let mut tx = ctx.fenced().await?;
    set_durable(&mut tx).await.map_err(JobError::transient)?;
    Ok(tx)
}

/// Makes the commit of the transaction on `conn` synchronous.
pub(crate) async fn set_durable(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("set local synchronous_commit = on")
        .execute(conn)
        .await
        .map(drop)
}

/// Store failures are the database's: worth retrying.
pub(crate) fn store(err: StoreError) -> JobError {
    JobError::transient(err)
}

impl<B: Backend> Workflows<B> {
    /// Reads the livelesson and its pinned lesson; `None` when the livelesson is gone.
    pub(crate) async fn load(
        &self,
        ctx: &JobContext,
        id: &LivelessonId,
    ) -> Result<Option<Loaded>, JobError> {
        let mut conn = ctx.pool().acquire().await.map_err(JobError::transient)?;
        let Some(row) = livelesson::get(&mut conn, id).await.map_err(store)? else {
            return Ok(None);
        };
        let lesson = curriculum::lesson_version(
            &mut *conn,
            &row.lesson_slug,
            &ContentHash::from_hex(row.lesson_hash.clone()),
        )
        .await
        .map_err(store)?
        .ok_or_else(|| {
            JobError::Permanent(format!(
                "lesson {} version {} is not stored",
                row.lesson_slug, row.lesson_hash
            ))
        })?;
        describe(ctx, &mut conn, &row).await?;
        Ok(Some(Loaded { row, lesson }))
    }

    /// Sets the status, fenced by the job's lease. The first READY a learner sees (from
    /// CREATE, or from the MODIFY of a spare taken at another stage) is observed as their
    /// time to READY; a spare's READY is not (it has no learner yet).
    pub(crate) async fn set_status(
        &self,
        ctx: &JobContext,
        id: &LivelessonId,
        status: Status,
    ) -> Result<(), JobError> {
        let mut tx = durable(ctx).await?;
        livelesson::set_status(&mut *tx, id, status)
            .await
            .map_err(store)?;
        let learner_ready = if status == Status::Ready {
            livelesson::mark_learner_ready(&mut *tx, id)
                .await
                .map_err(store)?
        } else {
            None
        };
        tx.commit().await.map_err(JobError::transient)?;
        if let Some((waited, pool_hit)) = learner_ready {
            let metrics = crate::telemetry::metrics();
            metrics.time_to_ready.observe(waited);
            metrics
                .pool_time_to_ready
                .with_label_values(&[if pool_hit { "hit" } else { "miss" }])
                .observe(waited);
        }
        Ok(())
    }
}
