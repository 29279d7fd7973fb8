//! Attribute names of the engine's spans, in one place so that every span spells them
//! alike. An application that names these concepts differently renames them where it
//! exports spans.

/// The job's id.
pub const JOB_ID: &str = "job.id";
/// The job's kind.
pub const JOB_KIND: &str = "job.kind";
/// The attempt number, from 1.
pub const JOB_ATTEMPT: &str = "job.attempt";
/// The attempt budget.
pub const JOB_MAX_ATTEMPTS: &str = "job.max_attempts";
/// The queue the job was claimed from.
pub const JOB_QUEUE: &str = "job.queue";
/// The worker running the attempt.
pub const JOB_WORKER: &str = "job.worker";
/// How the attempt ended: `completed`, `retry`, `failed`, `cancelled`, `snoozed`,
/// `handed_back`, `lease_lost`.
pub const JOB_OUTCOME: &str = "job.outcome";
/// Milliseconds the job was runnable before this attempt was claimed.
pub const JOB_QUEUE_WAIT_MS: &str = "job.queue_wait_ms";
/// A step's checkpoint name.
pub const STEP: &str = "job.step";
/// When a durable timer ends (RFC 3339).
pub const TIMER_DEADLINE: &str = "job.timer.deadline";
/// What a span link points at (`cause`: what enqueued the job).
pub const LINK_KIND: &str = "job.link";
/// The slot a periodic schedule enqueued (milliseconds since the epoch / interval).
pub const SCHEDULE_SLOT: &str = "job.schedule.slot";
