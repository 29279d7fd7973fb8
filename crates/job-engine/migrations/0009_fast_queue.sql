-- The job engine's no-op path made cheaper without losing a fact of the audit trail.
--
-- 1. Routine events are folded into the job rows. A job that is enqueued, claimed and
--    completed used to write three `job_events` rows (heap, two indexes each) beside its
--    own row moves. Their facts were already in the job row (created_at, attempted_at,
--    attempt, lease owner, finished_at) except for their place in the global event order,
--    so the rows now keep that place: `enqueued_event_id`, `claimed_event_id` and
--    `completed_event_id`, with `finished_jobs.worker` for the claim's worker.
--    `job_events` becomes a view that returns the stored events (now `job_event_log`)
--    and these folded ones, with the same columns, ids and order as before.
--    A claim that does not end in a completion (retry, snooze, hand-back, rescue, failure,
--    cancel) is written to the log when it ends, with the id it was given at the claim.
--
-- 2. Claims become HOT updates. A claim changed `state` (in the claim index's predicate)
--    and `lease_expires_at` (indexed for the rescuer), so every claim wrote two index
--    entries and usually moved the row to another page. The claim index now covers
--    running jobs too (the claim skips them by their state; claims resume after the last
--    claimed job, so they rarely walk over them), the rescuer scans the small claim table
--    instead of an index, and pages keep room for a new version of each of their rows.
--
-- 3. Event ids are the event sequence's value times 4096 plus the event's place in its
--    statement: a statement that writes events for a batch of jobs draws one value
--    instead of one per job. Ids stay unique and in the order events were written, and
--    stay below 2^53 (exact in JSON) for 2^41 statements.

alter table job_events rename to job_event_log;
alter index job_events_job rename to job_event_log_job;
alter index job_events_at rename to job_event_log_at;

create sequence job_event_seq;
-- New ids must sort after every existing one.
select setval('job_event_seq', coalesce((select max(id) from job_event_log), 0) / 4096 + 1);
alter table job_event_log alter column id drop identity if exists;
alter table job_event_log alter column id set default nextval('job_event_seq') * 4096;
alter sequence job_event_seq owned by job_event_log.id;

alter table jobs
    add column enqueued_event_id bigint,
    add column claimed_event_id  bigint;

alter table finished_jobs
    add column enqueued_event_id  bigint,
    add column claimed_event_id   bigint,
    add column completed_event_id bigint,
    -- The worker of the last claim, when that claim's event is folded into this row.
    add column worker             text;

-- Room on each page for a new version of every row: a claim, and each lease renewal
-- after it, stays on the row's page without new index entries (a HOT update).
alter table jobs set (fillfactor = 45);

drop index jobs_lease_expiry;
drop index jobs_claim;
-- No predicate on `state`: an index that names a column the claim changes forbids HOT.
create index jobs_claim on jobs (queue, priority, run_at, id);

create view job_events as
    select id, job_id, at, kind, attempt, worker, step, detail
    from job_event_log
    union all
    select e.id, j.id, e.at, e.kind, e.attempt, e.worker, null::text, null::text
    from jobs j
    cross join lateral (values
        (j.enqueued_event_id, j.created_at, 'enqueued', null::integer, null::text),
        (j.claimed_event_id, j.attempted_at, 'claimed', j.attempt, j.lease_owner)
    ) as e (id, at, kind, attempt, worker)
    where e.id is not null
    union all
    select e.id, f.id, e.at, e.kind, e.attempt, e.worker, null::text, null::text
    from finished_jobs f
    cross join lateral (values
        (f.enqueued_event_id, f.created_at, 'enqueued', null::integer, null::text),
        (f.claimed_event_id, f.attempted_at, 'claimed', f.attempt, f.worker),
        (f.completed_event_id, f.finished_at, 'completed', f.attempt, f.worker)
    ) as e (id, at, kind, attempt, worker)
    where e.id is not null;

-- Events written through the view (by operators, or tools written for the old table) go
-- to the log.
create function job_events_insert() returns trigger language plpgsql as $$
begin
    insert into job_event_log (id, job_id, at, kind, attempt, worker, step, detail)
    values (coalesce(new.id, nextval('job_event_seq') * 4096), new.job_id,
            coalesce(new.at, clock_timestamp()), new.kind, new.attempt, new.worker, new.step,
            new.detail)
    returning id into new.id;
    return new;
end
$$;

create trigger job_events_insert
    instead of insert on job_events
    for each row execute function job_events_insert();
