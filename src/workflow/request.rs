//! What learners ask for, turned into state and jobs in one transaction each: sessions,
//! livelesson requests (a spare taken from a warm pool, or a new livelesson with its
//! CREATE, or waiting in line for capacity; MODIFY on a stage change), heartbeats and
//! kills.

use sqlx::PgPool;

use crate::backend::Settings;
use crate::curriculum::names;
use crate::curriculum::{ContentHash, Lesson};
use crate::queue::{Client, JobKind, QueueError};
use crate::store::livelesson::{self, Livelesson, Status};
use crate::store::livesession::{self, Livesession};
use crate::store::{StoreError, curriculum, pool};

use crate::ids::{LivelessonId, SessionId};
pub use crate::provision::endpoints::{live_endpoints, missing_images};
use crate::provision::jobs::{Args, Create, Delete, Modify, livelesson_job};
use crate::provision::rows::guide;
pub use crate::provision::rows::{NewKind, insert_livelesson};

/// Admission limits (0 means unlimited, as in the original).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Sessions per source IP (`liveSessionLimit`).
    pub sessions_per_ip: u32,
    /// Unfinished livelessons per session (`liveLessonLimit`).
    pub livelessons_per_session: u32,
}

/// Why a request was refused. Each maps to one stable API error code.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The session does not exist (the front end then creates a new one).
    #[error("Invalid session ID {}; please request a new session", Shown(.0.as_str()))]
    UnknownSession(SessionId),
    /// No such lesson in the curriculum.
    #[error("unknown lesson {}", Shown(.0))]
    UnknownLesson(String),
    /// No such livelesson.
    #[error("unknown livelesson {}", Shown(.0.as_str()))]
    UnknownLivelesson(LivelessonId),
    /// The stage index is past the lesson's last stage.
    #[error("stage {stage} is out of range: lesson {lesson:?} has {stages} stages (0 to {last})", last = stages.saturating_sub(1))]
    StageOutOfRange {
        /// Lesson slug.
        lesson: String,
        /// Requested stage.
        stage: i64,
        /// Stage count.
        stages: usize,
    },
    /// The livelesson is being provisioned or configured; a stage change must wait.
    #[error("livelesson {id} is currently busy ({status}); try again when it is READY")]
    Busy {
        /// Livelesson id.
        id: LivelessonId,
        /// Its status.
        status: &'static str,
    },
    /// The livelesson failed; it is released shortly so the lesson can be requested again.
    /// The message is the learner's (front ends show it as is): the reason, failed step
    /// and logs stay on the admin API and in the audit trail.
    #[error("{}", failed_message(id, reason))]
    Failed {
        /// Livelesson id.
        id: LivelessonId,
        /// Why, for operators (not part of the message).
        reason: String,
    },
    /// A limit was reached.
    #[error("limit reached: {0}")]
    Limit(String),
    /// The learner asked to extend a lab that cannot be extended.
    #[error("livelesson {id} cannot be extended: {reason}")]
    NotExtendable {
        /// Livelesson id.
        id: LivelessonId,
        /// Why, for the learner.
        reason: String,
    },
    /// Storage failed.
    #[error("storage failure")]
    Store(#[from] StoreError),
    /// Enqueueing failed.
    #[error("job queue failure")]
    Queue(#[from] QueueError),
}

/// The learner's message for a failed livelesson. A lab over its resource budget says so
/// and names the quota, in the API server's words (retrying cannot help: the lesson needs
/// a larger budget); any other failure gets the general message, its reason kept for
/// operators.
pub fn failed_message(id: &LivelessonId, reason: &str) -> String {
    match reason.find("exceeded quota: ") {
        Some(at) => format!(
            "Sorry, this lab needs more than its resource budget allows (livelesson {id}): {}. \
             Please report it to the lesson's authors.",
            reason[at..].trim_end_matches('.')
        ),
        None => format!(
            "Sorry, this lab failed to start (livelesson {id}). It is cleaned up within a few \
             minutes; please try again then, and report the problem if it happens again."
        ),
    }
}

/// Client-supplied text in a message: quoted, and cut after [`Shown::MAX_CHARS`]
/// characters with the full length noted, so that a 60 KB id is not echoed back whole.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a>(pub &'a str);

impl Shown<'_> {
    /// Characters shown before the cut: every valid id and slug fits.
    pub const MAX_CHARS: usize = 64;
}

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.char_indices().nth(Self::MAX_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((cut, _)) => write!(f, "{:?}... ({} bytes)", &self.0[..cut], self.0.len()),
        }
    }
}

/// What a livelesson request did.
#[derive(Debug, Clone)]
pub enum Requested {
    /// A new livelesson and its CREATE job.
    Created(Livelesson),
    /// The existing livelesson, activity refreshed.
    Existing(Livelesson),
    /// The existing livelesson, moving to another stage (MODIFY enqueued).
    StageChanged(Livelesson),
    /// A spare taken from the lesson's warm pool (MODIFY enqueued when the stage is not 0).
    FromPool(Livelesson),
    /// A new livelesson waiting in line for capacity (its CREATE comes when admitted).
    Waiting(Livelesson),
}

impl Requested {
    /// The livelesson, whatever happened.
    pub fn livelesson(&self) -> &Livelesson {
        match self {
            Self::Created(ll)
            | Self::Existing(ll)
            | Self::StageChanged(ll)
            | Self::FromPool(ll)
            | Self::Waiting(ll) => ll,
        }
    }
}

/// Where a session is requested from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSource<'a> {
    /// The client's address, stored and shown as the session's `SourceIP`.
    pub address: &'a str,
    /// What the per-address limit counts by: the address, or its IPv6 network.
    pub key: &'a str,
}

/// Creates a session for `source`, within the per-address limit. Counting and inserting
/// happen under the address's advisory lock in one transaction, so the limit holds
/// however many requests race, in however many API processes.
///
/// # Errors
/// [`RequestError::Limit`] or storage failures.
pub async fn create_session(
    pool: &PgPool,
    source: Option<SessionSource<'_>>,
    limits: Limits,
) -> Result<Livesession, RequestError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(db("starting a session request"))?;
    if let (Some(source), limit @ 1..) = (source, limits.sessions_per_ip) {
        livesession::lock_source(&mut *tx, source.key).await?;
        if livesession::count_from(&mut *tx, source.key).await? >= i64::from(limit) {
            return Err(RequestError::Limit(format!(
                "at most {limit} sessions per client address"
            )));
        }
    }
    loop {
        let inserted = livesession::insert(
            &mut *tx,
            &SessionId::random(),
            source.map(|s| s.address),
            source.map(|s| s.key),
        )
        .await?;
        if let Some(session) = inserted {
            tx.commit().await.map_err(db("committing a session"))?;
            return Ok(session);
        }
    }
}

/// Requests `lesson_slug` at `stage` in `session_id`: returns the session's existing
/// livelesson (refreshing its activity; MODIFY when the stage differs), or takes a READY
/// spare of the lesson's warm pool, or creates the livelesson with its CREATE, or, beyond
/// capacity, creates it waiting in line without one (see [`crate::pool`]). State and jobs
/// commit together.
///
/// # Errors
/// The [`RequestError`] variants name each refusal.
pub async fn request_livelesson(
    pool: &PgPool,
    client: &Client,
    settings: &Settings,
    limits: Limits,
    session_id: &SessionId,
    lesson_slug: &str,
    stage: i64,
) -> Result<Requested, RequestError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(db("starting a livelesson request"))?;
    // The session row lock serialises requests of one session, and session expiry.
    livesession::lock(&mut *tx, session_id)
        .await?
        .ok_or_else(|| RequestError::UnknownSession(session_id.clone()))?;

    if let Some(existing) =
        livelesson::find_active_for_update(&mut tx, session_id, lesson_slug).await?
    {
        let lesson = curriculum::lesson_version(
            &mut *tx,
            &existing.lesson_slug,
            &ContentHash::from_hex(existing.lesson_hash.clone()),
        )
        .await?
        .ok_or_else(|| RequestError::UnknownLesson(lesson_slug.to_owned()))?;
        let stage = checked_stage(&lesson, stage)?;
        if let Some(error) = &existing.error {
            return Err(RequestError::Failed {
                id: existing.id,
                reason: error.reason.clone(),
            });
        }
        livelesson::touch(&mut *tx, &existing.id, None).await?;
        if stage == existing.current_stage {
            tx.commit()
                .await
                .map_err(db("committing a livelesson request"))?;
            return Ok(Requested::Existing(existing));
        }
        if existing.status != Status::Ready {
            return Err(RequestError::Busy {
                id: existing.id,
                status: existing.status.as_str(),
            });
        }
        let (guide_type, guide) = guide(&lesson, stage);
        livelesson::set_stage(&mut *tx, &existing.id, stage, guide_type, guide).await?;
        enqueue::<Modify>(client, &mut tx, &existing.id, stage).await?;
        let updated = livelesson::get(&mut tx, &existing.id)
            .await?
            .ok_or_else(|| RequestError::UnknownLivelesson(existing.id.clone()))?;
        tx.commit().await.map_err(db("committing a stage change"))?;
        client.wake(crate::queue::job::DEFAULT_QUEUE);
        return Ok(Requested::StageChanged(updated));
    }

    let stored = curriculum::current_lesson(&mut *tx, lesson_slug)
        .await?
        .ok_or_else(|| RequestError::UnknownLesson(lesson_slug.to_owned()))?;
    let lesson = &stored.lesson;
    let stage = checked_stage(lesson, stage)?;
    if limits.livelessons_per_session > 0
        && livelesson::count_for_session(&mut *tx, session_id).await?
            >= i64::from(limits.livelessons_per_session)
    {
        return Err(RequestError::Limit(format!(
            "at most {} livelessons per session",
            limits.livelessons_per_session
        )));
    }
    let admission = pool::admission_settings(&mut *tx, lesson_slug).await?;
    if admission.lesson_spares > 0 {
        if let Some(taken) =
            take_spare(client, &mut tx, &stored, session_id, stage, &admission).await?
        {
            tx.commit().await.map_err(db("committing a pool take"))?;
            client.wake(crate::queue::job::DEFAULT_QUEUE);
            let metrics = crate::telemetry::metrics();
            metrics.pool_requests.with_label_values(&["hit"]).inc();
            if stage == 0 {
                // READY when handed out: the learner waited for nothing but this request.
                metrics.time_to_ready.observe(0.0);
                metrics
                    .pool_time_to_ready
                    .with_label_values(&["hit"])
                    .observe(0.0);
            }
            return Ok(Requested::FromPool(taken));
        }
        crate::telemetry::metrics()
            .pool_requests
            .with_label_values(&["miss"])
            .inc();
    }
    let admitted = if admission.limits_capacity() {
        admit(client, &mut tx, lesson_slug, &admission).await?
    } else {
        true
    };
    let traceparent = crate::telemetry::current_traceparent();
    let Some(id) = insert_livelesson(
        &mut tx,
        settings,
        &stored,
        session_id,
        stage,
        NewKind::Learner { admitted },
        traceparent.as_deref(),
    )
    .await?
    else {
        // Impossible under the session lock: a concurrent request created the lesson's
        // livelesson.
        return Err(RequestError::Busy {
            id: LivelessonId::from(String::new()),
            status: Status::Initialized.as_str(),
        });
    };
    livesession::touch(&mut *tx, session_id).await?;
    if admitted {
        enqueue::<Create>(client, &mut tx, &id, stage).await?;
    }
    let created = livelesson::get(&mut tx, &id)
        .await?
        .ok_or_else(|| RequestError::UnknownLivelesson(id.clone()))?;
    tx.commit()
        .await
        .map_err(db("committing a livelesson request"))?;
    client.wake(crate::queue::job::DEFAULT_QUEUE);
    Ok(if admitted {
        Requested::Created(created)
    } else {
        Requested::Waiting(created)
    })
}

/// Hands a READY spare of the lesson's current version to the session, in the request's
/// transaction: stage change (MODIFY) when the stage is not 0, and a refill for the
/// lesson. `None` when the pool has no READY spare.
async fn take_spare(
    client: &Client,
    tx: &mut sqlx::PgConnection,
    stored: &curriculum::StoredLesson,
    session_id: &SessionId,
    stage: i32,
    admission: &pool::Admission,
) -> Result<Option<Livelesson>, RequestError> {
    let Some(id) = pool::take_spare(
        &mut *tx,
        &stored.lesson.slug,
        stored.content_hash.as_str(),
        session_id,
        admission.global.max_age_secs,
        stage == 0,
    )
    .await?
    else {
        return Ok(None);
    };
    if stage != 0 {
        let (guide_type, guide) = guide(&stored.lesson, stage);
        livelesson::set_stage(&mut *tx, &id, stage, guide_type, guide).await?;
        enqueue::<Modify>(client, tx, &id, stage).await?;
    }
    livesession::touch(&mut *tx, session_id).await?;
    client
        .enqueue_using(tx, &crate::pool::refill_job(&format!("take:{id}")))
        .await?;
    Ok(livelesson::get(tx, &id).await?)
}

/// Capacity admission of a new learner's livelesson, under the capacity lock: admitted
/// when there is room and nobody waits in line before it. A request that waits while the
/// cluster is full makes a spare of another lesson give way (its DELETE frees the room);
/// a refill pass is enqueued to admit the line as soon as it can.
async fn admit(
    client: &Client,
    tx: &mut sqlx::PgConnection,
    lesson_slug: &str,
    admission: &pool::Admission,
) -> Result<bool, RequestError> {
    pool::lock_capacity(&mut *tx).await?;
    let usage = pool::usage(&mut *tx, lesson_slug).await?;
    let global_full =
        admission.global.max_live > 0 && usage.live >= i64::from(admission.global.max_live);
    let lesson_full =
        admission.lesson_max_live > 0 && usage.lesson_live >= i64::from(admission.lesson_max_live);
    if !global_full && !lesson_full && usage.waiting == 0 {
        return Ok(true);
    }
    if global_full && let Some(spare) = pool::give_way(&mut *tx, lesson_slug).await? {
        tracing::info!(livelesson = %spare, lesson = lesson_slug, "spare gives way to a waiting learner");
        enqueue::<Delete>(client, tx, &spare, 0).await?;
    }
    let trigger = format!("wait:{}", crate::ids::random_text(names::LIVELESSON_ID_LEN));
    client
        .enqueue_using(tx, &crate::pool::refill_job(&trigger))
        .await?;
    Ok(false)
}

/// Keeps a learner's livelesson alive. Returns false for unknown or deleting ones.
///
/// Locks the session before the livelesson, the order of every livelesson request. A
/// heartbeat that updated the livelesson and then its session deadlocked with a request of
/// the same lesson in flight (each held the row the other waited for), and PostgreSQL
/// aborted one of them after a second: a 500 for the learner.
///
/// # Errors
/// Storage failures.
pub async fn heartbeat(pool: &PgPool, id: &LivelessonId) -> Result<bool, RequestError> {
    touch(pool, id, None).await
}

/// Typing in one of the lab's terminals, as the learner's activity: a heartbeat unless
/// activity was written within `quiet` (by this process or another), so that a lab's
/// terminals write it at most once in that time. Returns whether it was written.
///
/// # Errors
/// Storage failures.
pub async fn typed(
    pool: &PgPool,
    id: &LivelessonId,
    quiet: std::time::Duration,
) -> Result<bool, RequestError> {
    touch(pool, id, Some(quiet.as_secs_f64())).await
}

/// [`heartbeat`] and [`typed`]: the session's lock, then the activity write.
async fn touch(
    pool: &PgPool,
    id: &LivelessonId,
    quiet_secs: Option<f64>,
) -> Result<bool, RequestError> {
    let mut tx = pool.begin().await.map_err(db("starting a heartbeat"))?;
    if livesession::lock_of_livelesson(&mut *tx, id)
        .await?
        .is_none()
    {
        return Ok(false);
    }
    let touched = livelesson::touch(&mut *tx, id, quiet_secs).await?;
    tx.commit().await.map_err(db("committing a heartbeat"))?;
    Ok(touched)
}

/// Requests deletion: marks the livelesson deleting, cancels its CREATE or MODIFY (a
/// queued one at once, a running one through its worker, which stops it at once: a lab
/// waiting minutes for its endpoints is not finished first) and enqueues DELETE, which
/// runs as soon as they are gone. Idempotent.
///
/// # Errors
/// [`RequestError::UnknownLivelesson`] or storage failures.
pub async fn kill(pool: &PgPool, client: &Client, id: &LivelessonId) -> Result<(), RequestError> {
    let mut tx = pool.begin().await.map_err(db("starting a kill"))?;
    let locked = livelesson::lock(&mut tx, id).await?;
    // A spare is nobody's to kill: the /exp API does not know it.
    if locked.is_none_or(|row| row.spare) {
        return Err(RequestError::UnknownLivelesson(id.clone()));
    }
    if livelesson::mark_deleting(&mut *tx, id).await? {
        client
            .cancel_serial_using(
                &mut tx,
                &super::serial_key(id),
                &[super::CREATE, super::MODIFY],
            )
            .await?;
        enqueue::<Delete>(client, &mut tx, id, 0).await?;
    }
    tx.commit().await.map_err(db("committing a kill"))?;
    client.wake(crate::queue::job::DEFAULT_QUEUE);
    Ok(())
}

async fn enqueue<K: JobKind<Args = Args>>(
    client: &Client,
    tx: &mut sqlx::PgConnection,
    id: &LivelessonId,
    stage: i32,
) -> Result<(), RequestError> {
    let mut job = livelesson_job::<K>(id, stage)?;
    // The worker's spans continue the trace of the request that enqueued the job.
    job.traceparent = crate::telemetry::current_traceparent();
    client.enqueue_using(tx, &job).await?;
    Ok(())
}

/// The requested stage as an index into `lesson`'s stages.
///
/// # Errors
///
/// [`RequestError::StageOutOfRange`] for a negative stage or one past the last.
pub fn checked_stage(lesson: &Lesson, stage: i64) -> Result<i32, RequestError> {
    usize::try_from(stage)
        .ok()
        .filter(|s| *s < lesson.stages.len())
        .and_then(|s| i32::try_from(s).ok())
        .ok_or_else(|| RequestError::StageOutOfRange {
            lesson: lesson.slug.clone(),
            stage,
            stages: lesson.stages.len(),
        })
}

fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> RequestError {
    move |source| RequestError::Store(StoreError::Database { operation, source })
}
