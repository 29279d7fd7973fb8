-- The per-address session limit counts sessions by `source_key`: the client's address, or
-- for IPv6 its network prefix (a /64 by default: one host or one LAN holds a whole /64, so
-- counting single IPv6 addresses would be no limit at all). `source_ip` keeps the exact
-- address, as shown to the client.
--
-- Creating a session takes a transaction-scoped advisory lock on its key
-- (`pg_advisory_xact_lock`), so that counting and inserting are one atomic step however
-- many API processes and requests race: a check-then-insert without it let 2,000
-- concurrent requests against a limit of 20 make 100 sessions.

alter table livesessions add column source_key text;

update livesessions set source_key = source_ip;

create index livesessions_source_key on livesessions (source_key);

drop index livesessions_source_ip;
