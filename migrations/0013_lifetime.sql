-- A lab's lifetime (issue 32): a learner may extend the inactivity deadline
-- (extended_until, counted in extensions), never past the hard deadline, which is
-- requested_at plus the configured maximum age.
alter table livelessons
    add column extended_until timestamptz,
    add column extensions integer not null default 0 check (extensions >= 0);
