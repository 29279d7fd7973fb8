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
/// The job engine's own attribute names (`job.*`).
pub use job_engine::trace::attributes::{
    JOB_ATTEMPT, JOB_ID, JOB_KIND, JOB_MAX_ATTEMPTS, JOB_OUTCOME, JOB_QUEUE, JOB_QUEUE_WAIT_MS,
    JOB_WORKER,
};
/// What a span link points at: `cause` (what enqueued the job) or `livelesson.first`
/// (the trace of the request that created the livelesson).
pub const LINK_KIND: &str = "antidote.link";
/// The slot a periodic schedule enqueued (milliseconds since the epoch / interval).
pub const SCHEDULE_SLOT: &str = "antidote.schedule.slot";
