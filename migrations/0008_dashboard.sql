-- The operator dashboard (src/api/ui): signed-in browser sessions, one-time sign-in links,
-- and the indexes its job list needs over the history of finished jobs.

-- Sessions of browsers signed in with the admin token. A table rather than memory in one
-- process: every API process behind a load balancer must know a session, and a restart
-- or deploy must not sign operators out. The cookie holds a random 256-bit value; only its
-- sha256 is stored, so whoever reads this table (a backup, an SQL console) cannot use it
-- as a cookie. `csrf_token` is echoed by the session's forms and checked on every action.
create table ui_sessions (
    id_hash    bytea       primary key,
    csrf_token text        not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);

-- Sign-in drops expired sessions by this index.
create index ui_sessions_expires_at on ui_sessions (expires_at);

-- One-time sign-in links (`antidoted demo` prints one): the sha256 of the link's random
-- token; the first use deletes the row, so a link signs in one browser once.
create table ui_sign_in_links (
    token_hash bytea       primary key,
    expires_at timestamptz not null
);

-- The job list pages newest first (by id) under filters. Without these, a filter matching
-- few rows walks the whole history backwards on the primary key.
--
-- A livelesson's jobs (`serial_key = 'livelesson:<id>'`): also what `serial_progress` and
-- the README's audit query ask. Jobs without a serial key (most of a no-op benchmark's)
-- cost nothing here.
create index finished_jobs_serial_key on finished_jobs (serial_key, id)
    where serial_key is not null;
-- Failed and cancelled jobs, the states operators look for; completed jobs, the bulk of
-- every history, are left out, so completing a job does not maintain this index.
create index finished_jobs_unsuccessful on finished_jobs (state, id)
    where state <> 'completed';
-- Jobs of one kind.
create index finished_jobs_kind on finished_jobs (kind, id);
-- Jobs of a queue other than the default one; jobs of the default queue, nearly all of
-- them, are found at once on the primary key and cost nothing here.
create index finished_jobs_other_queues on finished_jobs (queue, id)
    where queue <> 'default';
