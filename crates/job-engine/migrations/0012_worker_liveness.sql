-- Workers' liveness, so that a dead worker's jobs are taken over within seconds instead of
-- when their leases expire (30 s by default), without shortening every lease.
--
-- Each worker holds, on a connection of its own for its whole life, a session-level
-- advisory lock `pg_advisory_lock(<engine class>, lock_key)` (the two-int4 form, whose
-- first key is a constant of the engine's: it cannot meet the application's one-bigint
-- locks, which PostgreSQL keys apart). PostgreSQL releases it when that connection ends:
-- the process was killed, its host vanished (the server's TCP keepalives), or the
-- connection was cut. A worker registers here the id it records in `jobs.lease_owner` and
-- the key it locked; only registered workers are judged, so claims of engines without a
-- liveness lock (older versions during a rolling upgrade, tests' probes) keep their
-- leases. The table holds a row per live worker and per worker dead for less than the
-- grace; rows are never written on the claim path.

create table job_workers (
    -- The id the worker records in `jobs.lease_owner`.
    worker        text        primary key,
    -- The second key of its liveness lock, drawn anew by each of its connections.
    lock_key      integer     not null,
    registered_at timestamptz not null default now(),
    -- When a rescuer first found the lock free (the worker gone, or reconnecting); the
    -- worker clears it when it registers its lock again. A rescuer takes the worker's jobs
    -- only once the lock has been free for the grace, and is free still.
    lost_since    timestamptz
);
