-- The durable job engine (src/queue). Knows nothing about lessons.
--
-- `jobs` holds only unfinished jobs, so the claim query scans a small table whatever the
-- history size. A finished job moves, with the same id, to `finished_jobs`. `jobs_all`
-- unions both for audits. `job_steps` holds workflow checkpoints and `job_events` is the
-- append-only audit trail; neither has a foreign key, because a job changes table when it
-- finishes and its history must outlive both.

create type job_state as enum (
    'scheduled', 'available', 'running', 'retryable', 'completed', 'failed', 'cancelled'
);

create table jobs (
    id               bigint generated always as identity primary key,
    kind             text        not null,
    args             jsonb       not null default '{}',
    queue            text        not null default 'default',
    -- Lower runs first.
    priority         smallint    not null default 1,
    state            job_state   not null default 'available'
        check (state in ('scheduled', 'available', 'running', 'retryable')),
    attempt          integer     not null default 0,
    max_attempts     integer     not null default 20 check (max_attempts > 0),
    run_at           timestamptz not null default now(),
    created_at       timestamptz not null default now(),
    attempted_at     timestamptz,
    last_error       text,
    traceparent      text,
    -- At most one unfinished job per unique_key: enqueue returns the existing one.
    unique_key       text,
    -- Jobs sharing a serial_key run one at a time, in id (enqueue) order.
    serial_key       text,
    cancel_requested boolean     not null default false,
    -- Lease of the worker running the job. Every checkpoint write must present lease_token,
    -- so a worker that lost its lease can write nothing.
    lease_owner      text,
    lease_token      uuid,
    lease_expires_at timestamptz
) with (fillfactor = 80); -- room on each page keeps lease renewals HOT updates

-- The claim scan: runnable jobs in priority, run_at, id order.
create index jobs_claim on jobs (queue, priority, run_at, id) where state <> 'running';
create unique index jobs_unique_key on jobs (unique_key) where unique_key is not null;
-- "Is an older job of my serial_key still unfinished?"
create index jobs_serial_key on jobs (serial_key, id) where serial_key is not null;

create table finished_jobs (
    id               bigint      primary key,
    kind             text        not null,
    args             jsonb       not null,
    queue            text        not null,
    priority         smallint    not null,
    state            job_state   not null check (state in ('completed', 'failed', 'cancelled')),
    attempt          integer     not null,
    max_attempts     integer     not null,
    run_at           timestamptz not null,
    created_at       timestamptz not null,
    attempted_at     timestamptz,
    finished_at      timestamptz not null default now(),
    last_error       text,
    traceparent      text,
    unique_key       text,
    serial_key       text
);

-- Append-only by time: BRIN costs almost nothing to maintain and serves retention scans.
create index finished_jobs_finished_at on finished_jobs using brin (finished_at);

create view jobs_all as
    select id, kind, args, queue, priority, state, attempt, max_attempts, run_at, created_at,
           attempted_at, null::timestamptz as finished_at, last_error, traceparent, unique_key,
           serial_key, lease_owner
    from jobs
    union all
    select id, kind, args, queue, priority, state, attempt, max_attempts, run_at, created_at,
           attempted_at, finished_at, last_error, traceparent, unique_key, serial_key,
           null::text as lease_owner
    from finished_jobs;

create table job_steps (
    job_id       bigint      not null,
    name         text        not null,
    output       jsonb       not null,
    attempt      integer     not null,
    worker       text        not null,
    completed_at timestamptz not null default now(),
    primary key (job_id, name)
);

-- No primary-key index: events are read by job (job_events_job) or by time, and one index
-- less per event matters at tens of thousands of jobs per second.
create table job_events (
    id      bigint generated always as identity,
    job_id  bigint      not null,
    at      timestamptz not null default clock_timestamp(),
    -- enqueued, claimed, step_started, step_completed, step_failed, lease_lost, rescued,
    -- retry_scheduled, snoozed, handed_back, cancel_requested, completed, failed, cancelled,
    -- retried (by an operator).
    kind    text        not null,
    attempt integer,
    worker  text,
    step    text,
    detail  text
);

create index job_events_job on job_events (job_id, id);
create index job_events_at on job_events using brin (at);

-- Stored schedules. A worker advances next_run_at with a conditional update and enqueues the
-- slot's job (unique_key = name:slot) in the same transaction: one run per slot, no leader.
create table periodic_jobs (
    name          text        primary key,
    kind          text        not null,
    args          jsonb       not null default '{}',
    queue         text        not null default 'default',
    interval_ms   bigint      not null check (interval_ms > 0),
    next_run_at   timestamptz not null,
    last_slot     bigint,
    updated_at    timestamptz not null default now()
);
