-- Garbage collection (src/gc): when a livelesson failed, and the indexes the periodic
-- collection statements scan.

-- When the livelesson entered ERROR. Errored livelessons are released a short while after
-- the failure, not after the activity TTL, so the learner can request the lesson again.
-- last_active_at cannot serve: a CREATE that fails after 20 minutes would be released at
-- once, before the learner has seen why.
alter table livelessons add column errored_at timestamptz;

-- Stamped by a trigger so that every writer of ERROR (workflows, reconciliation) sets it
-- without knowing about it.
create function livelessons_stamp_errored_at() returns trigger language plpgsql as $$
begin
    if new.status = 'ERROR' and (tg_op = 'INSERT' or old.status is distinct from 'ERROR') then
        new.errored_at := now();
    elsif new.status <> 'ERROR' then
        new.errored_at := null;
    end if;
    return new;
end
$$;

create trigger livelessons_errored_at
    before insert or update of status on livelessons
    for each row execute function livelessons_stamp_errored_at();

-- Session expiry asks "has this session any livelesson (deleting or not)?".
create index livelessons_session on livelessons (session_id);
-- Session expiry scans sessions by last activity.
create index livesessions_last_active on livesessions (last_active_at);
-- Reconciliation reads READY livelessons only.
create index livelessons_ready on livelessons (id) where status = 'READY' and not deleting;
