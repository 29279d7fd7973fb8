-- When each livelesson, or one of its endpoints, last changed (issue 31): an API process
-- keeps the answers of `GET /exp/livelesson/{id}` in memory and asks, a few times a
-- second, which livelessons changed lately, instead of reading every poll of every
-- learner's browser from the database.
--
-- Triggers set the time, so no writer can forget it. It is the time of the write, not of
-- the commit; readers allow for transactions that commit a while after they write. No
-- NOTIFY: a NOTIFY takes a database-wide lock at commit, which would serialise every
-- transaction that touches a livelesson.
alter table livelessons add column changed_at timestamptz not null default clock_timestamp();

create index livelessons_changed_at on livelessons (changed_at);

create function livelesson_changed() returns trigger language plpgsql as $$
begin
    new.changed_at := clock_timestamp();
    return new;
end
$$;

create trigger livelesson_changed before update on livelessons
    for each row execute function livelesson_changed();

create function live_endpoint_changed() returns trigger language plpgsql as $$
begin
    update livelessons set changed_at = clock_timestamp()
    where id = coalesce(new.livelesson_id, old.livelesson_id);
    return null;
end
$$;

create trigger live_endpoint_changed after insert or update or delete on live_endpoints
    for each row execute function live_endpoint_changed();
