-- The indexes the job list (`inspect::job_page`: newest first, by id, under filters) needs
-- over the history of finished jobs. Without them a filter matching few rows walks the
-- whole history backwards on the primary key.
--
-- They may exist already: an application that shipped the engine's migrations among its
-- own created them, under these names, in its migration 8 (`0008_dashboard.sql` of
-- antidote-scheduler) before the job list became the engine's. `if not exists` leaves
-- those as they are; that migration is not changed, because sqlx refuses a database whose
-- applied migration's checksum changed.

-- A serial key's jobs (`serial_progress` asks this too). Jobs without a serial key cost
-- nothing here.
create index if not exists finished_jobs_serial_key on finished_jobs (serial_key, id)
    where serial_key is not null;
-- Failed and cancelled jobs, the states operators look for; completed jobs, the bulk of
-- every history, are left out, so completing a job does not maintain this index.
create index if not exists finished_jobs_unsuccessful on finished_jobs (state, id)
    where state <> 'completed';
-- Jobs of one kind.
create index if not exists finished_jobs_kind on finished_jobs (kind, id);
-- Jobs of a queue other than the default one; jobs of the default queue, nearly all of
-- them, are found at once on the primary key and cost nothing here.
create index if not exists finished_jobs_other_queues on finished_jobs (queue, id)
    where queue <> 'default';
