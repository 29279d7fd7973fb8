-- Warm pools and capacity admission (src/pool).
--
-- A spare is an ordinary livelesson, provisioned by the same checkpointed CREATE, that
-- belongs to the reserved session `pool` (`spare` true) until a learner's request takes
-- it: the take moves it to the learner's session in the request's transaction. A reserved
-- session rather than a nullable session id keeps the foreign key, the livelesson type
-- and every workflow unchanged; the /exp API never sees it (its ids are 10 characters).

-- The pool session is created by the first refill pass that creates a spare (and again
-- whenever session expiry has deleted it while it held no spare).

alter table livelessons
    -- In the pool, waiting for a learner.
    add column spare boolean not null default false,
    -- When the learner asked for it: the request that created it, or the one that took it
    -- from the pool (a spare's creation time is not the learner's wait).
    add column requested_at timestamptz not null default now(),
    -- Taken from a pool (metrics split time to READY by hit and miss).
    add column pool_hit boolean not null default false,
    -- When it was first READY for its learner (the time-to-READY metric is observed once).
    add column learner_ready_at timestamptz,
    -- Capacity admission: false while the request waits in line for capacity; its CREATE
    -- is enqueued when it is admitted. Admitted livelessons (spares included) are the live
    -- ones capacity counts, until their DELETE removes the row.
    add column admitted boolean not null default true,
    -- When the request started waiting (FIFO order and the wait-time metric).
    add column waiting_since timestamptz;

-- One unfinished livelesson per (session, lesson) for learners; the pool session holds
-- many spares of a lesson.
drop index livelessons_one_per_session_lesson;
create unique index livelessons_one_per_session_lesson
    on livelessons (session_id, lesson_slug) where not deleting and not spare;

-- Taking a spare: the oldest READY spare of a lesson.
create index livelessons_spares on livelessons (lesson_slug, created_at) where spare and not deleting;
-- The line of requests waiting for capacity, first come first served.
create index livelessons_waiting on livelessons (waiting_since, id) where not admitted and not deleting;

-- Pool and capacity settings as last applied from a configuration file (at start and on
-- SIGHUP): in the database so that every API process and worker admits and refills by the
-- same numbers. One row.
create table pool_settings (
    singleton            boolean          primary key default true check (singleton),
    -- Spares kept at most, all lessons together.
    max_spares           integer          not null default 0 check (max_spares >= 0),
    -- A spare older than this is replaced.
    max_age_secs         double precision not null default 3600 check (max_age_secs > 0),
    -- Backoff after a lesson's spare failed: doubled per consecutive failure, capped.
    failure_backoff_secs double precision not null default 30 check (failure_backoff_secs >= 0),
    max_backoff_secs     double precision not null default 3600 check (max_backoff_secs >= 0),
    -- Live (admitted) livelessons at most, spares included; 0: unlimited.
    max_live             integer          not null default 0 check (max_live >= 0),
    updated_at           timestamptz      not null default now()
);
insert into pool_settings default values;

-- Per lesson: the pool's target, its capacity share, and its failure record (the refill
-- backoff and what the admin API shows).
create table pool_lessons (
    lesson_slug          text        primary key,
    -- Spares kept READY at stage 0; 0: no pool.
    spares               integer     not null default 0 check (spares >= 0),
    -- Live livelessons of this lesson at most; 0: only the global maximum applies.
    max_live             integer     not null default 0 check (max_live >= 0),
    -- Spares created since the row exists.
    created              bigint      not null default 0,
    -- Spares that failed since the row exists, and in a row since the last success.
    failures             bigint      not null default 0,
    consecutive_failures integer     not null default 0,
    last_failure_at      timestamptz,
    last_error           text,
    -- No new spare of this lesson is created before this.
    backoff_until        timestamptz
);
