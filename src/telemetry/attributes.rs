//! Attribute names of our spans, in one place so that every span spells them alike.
//! Where an OpenTelemetry semantic convention exists it is used (`http.*`, `error.type`);
//! the scheduler's own concepts are under `antidote.*`, the job engine's under `job.*`.

/// The livelesson id (`[a-z0-9]{10}`).
pub const LIVELESSON_ID: &str = "antidote.livelesson.id";
/// The livesession owning the livelesson.
pub const SESSION_ID: &str = "antidote.session.id";
/// The lesson's slug.
pub const LESSON_SLUG: &str = "antidote.lesson.slug";
/// A workflow step's checkpoint name (`namespace`, `endpoint:vqfx1`, `ready-delay`).
pub const STEP: &str = "antidote.step";
/// The endpoint a step works on (`endpoint:<name>` steps).
pub const ENDPOINT: &str = "antidote.endpoint";
/// The lesson stage a CREATE or MODIFY brings the livelesson to.
pub const STAGE: &str = "antidote.stage";
/// The workflow: `CREATE`, `MODIFY` or `DELETE`.
pub const WORKFLOW: &str = "antidote.workflow";
/// When a durable timer ends (RFC 3339).
pub const TIMER_DEADLINE: &str = "antidote.timer.deadline";
/// The job's id.
pub const JOB_ID: &str = "job.id";
/// The job's kind (`livelesson.create`, `gc.expire`).
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
/// What a span link points at: `cause` (what enqueued the job) or `livelesson.first`
/// (the trace of the request that created the livelesson).
pub const LINK_KIND: &str = "antidote.link";
/// The slot a periodic schedule enqueued (milliseconds since the epoch / interval).
pub const SCHEDULE_SLOT: &str = "antidote.schedule.slot";
