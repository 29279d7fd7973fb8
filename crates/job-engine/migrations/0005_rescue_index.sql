-- The rescuer looks for running jobs whose lease expired. Without an index it scanned the
-- whole claim table every few seconds on every worker, a cost that grows with the backlog
-- and with the dead row versions a long transaction keeps from vacuum.
create index jobs_lease_expiry on jobs (lease_expires_at) where state = 'running';
