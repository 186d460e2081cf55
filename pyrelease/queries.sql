-- The SQL that the Python package sends, one named query per block ("-- name: X",
-- then a one-line description, then the statement). Each wrapper sends exactly one.

-- name: release_expired
-- Release every expired reservation, in batches.
SELECT real_estate.release_expired_reservations(%(batch_size)s::integer);

-- name: release_reservation
-- Release one reservation if it has expired.
SELECT real_estate.release_reservation(%(property_id)s::uuid);

-- name: reserve
-- Reserve a property; returns the new reserved_until.
SELECT real_estate.reserve_property(%(property_id)s::uuid, %(reserved_by_id)s::uuid, %(ttl)s::interval);

-- name: health
-- Expired reservations not yet released, the oldest one's age, when the last scheduled
-- run finished and how long ago, and the server's time.
SELECT b.expired_reservations, b.oldest_age, r.last_finished, now() - r.last_finished, now()
  FROM real_estate.release_backlog AS b,
       (SELECT max(finished_at) AS last_finished
          FROM real_estate.release_run
         WHERE source = 'pg_cron') AS r;

-- name: has_migration_log
-- Whether yoyo's migration log is there (a database migrated by pyrelease or yoyo).
SELECT pg_catalog.to_regclass('public._yoyo_migration') IS NOT NULL;

-- name: installed_at
-- When the release job was installed: migration 0003, as yoyo recorded it.
SELECT max(applied_at_utc) AT TIME ZONE 'UTC'
  FROM public._yoyo_migration
 WHERE migration_id LIKE '0003.%';

-- name: last_runs
-- The latest rows of the package's run log.
SELECT id, source, started_at, finished_at, released, failed, error
  FROM real_estate.release_run
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: cron_settings
-- Where pg_cron runs, seen from here: whether its extension is in this database, and
-- cron.database_name when this role may read it (the setting is superuser-only unless the
-- role has pg_read_all_settings; NULL also when pg_cron is not loaded).
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') AS here,
       pg_catalog.pg_has_role('pg_read_all_settings', 'MEMBER') AS readable,
       CASE WHEN pg_catalog.pg_has_role('pg_read_all_settings', 'MEMBER')
            THEN pg_catalog.current_setting('cron.database_name', true) END AS cron_database,
       pg_catalog.current_database() AS database;

-- name: migrated
-- Whether the procedure the job calls exists.
SELECT pg_catalog.to_regprocedure('real_estate.run_release_job(integer, interval)') IS NOT NULL;

-- name: cron_installed
-- Whether the pg_cron extension exists in the connected database.
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron');

-- name: release_jobs
-- The release jobs of a database: those that run the procedure there, whoever registered
-- them (a job belongs to its target database, not to a name or a user), oldest first.
SELECT jobid, jobname, schedule, command, database, active
  FROM cron.job
 WHERE database = %(database)s
   AND pg_catalog.starts_with(command, 'CALL real_estate.run_release_job')
 ORDER BY jobid;

-- name: named_jobs
-- The jobs of that name, whatever database they run in.
SELECT jobid, jobname, schedule, command, database, active
  FROM cron.job
 WHERE jobname = %(jobname)s
 ORDER BY jobid;

-- name: orphan_release_jobs
-- Release jobs on this node whose database no longer exists (dropped or renamed without
-- a rollback): they can only fail.
SELECT j.jobid, j.database
  FROM cron.job AS j
 WHERE pg_catalog.starts_with(j.command, 'CALL real_estate.run_release_job')
   AND (j.nodename, j.nodeport) = (SELECT nodename, nodeport FROM cron.job WHERE jobid = %(jobid)s)
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database AS d WHERE d.datname = j.database);

-- name: schedule_job
-- Register a new job for a database (an existing one is re-pointed with alter_job:
-- re-scheduling by name keeps an old database and active flag).
SELECT cron.schedule_in_database(%(jobname)s, %(schedule)s, %(command)s, %(database)s);

-- name: alter_job
-- Re-point an existing job: schedule, command, database and active flag.
SELECT cron.alter_job(%(jobid)s, %(schedule)s, %(command)s, %(database)s, NULL, true);

-- name: unschedule_job
-- Remove the job by id.
SELECT cron.unschedule(%(jobid)s::bigint);

-- name: job_runs
-- The latest pg_cron runs of the release job.
SELECT d.runid, d.status, d.start_time, d.end_time, d.return_message
  FROM cron.job_run_details AS d
 WHERE d.jobid = %(jobid)s
 ORDER BY d.start_time DESC
 LIMIT %(limit)s;

-- name: retention
-- A retention interval as PostgreSQL reads it, and whether it reaches into the past.
SELECT %(retention)s::interval::text, now() - %(retention)s::interval < now();

-- name: routine_source
-- The SHA-256 of the plpgsql/ source last installed (pyrelease/install.py).
SELECT sha256 FROM real_estate.routine_source;

-- name: record_routine_source
-- Record the SHA-256 of the plpgsql/ source just installed.
INSERT INTO real_estate.routine_source (singleton, sha256, installed_at)
VALUES (true, %(sha256)s, now())
ON CONFLICT ON CONSTRAINT routine_source_pkey
DO UPDATE SET sha256 = excluded.sha256, installed_at = excluded.installed_at;

-- name: extend
-- The holder moves an unexpired reservation's expiry; returns the new reserved_until.
SELECT real_estate.extend_reservation(%(property_id)s::uuid, %(reserved_by_id)s::uuid, %(ttl)s::interval);

-- name: cancel
-- The holder gives the property back; true when it did.
SELECT real_estate.cancel_reservation(%(property_id)s::uuid, %(reserved_by_id)s::uuid);

-- name: sell
-- The holder's unexpired reservation becomes SOLD.
SELECT real_estate.confirm_sale(%(property_id)s::uuid, %(reserved_by_id)s::uuid);

-- name: release_events
-- The release events after a cursor, in id order, none ever skipped.
SELECT id, run_id, property_id, workspace_id, project_id, reserved_by_id, reserved_until,
       released_at, reason
  FROM real_estate.release_events(%(after_id)s::bigint, %(limit)s::integer);

-- name: listen
-- Subscribe to the one notification per transaction that writes release events.
LISTEN real_estate_release;

-- name: last_event_id
-- The highest release event id committed so far (where `pyrelease watch` starts by default).
SELECT coalesce(max(id), 0) FROM real_estate.release_event;

-- name: unlisten
-- Stop listening (listen() on the caller's connection, when its iterator is closed).
UNLISTEN real_estate_release;
-- name: counter_drift
-- How many projects' available_plots differ from their AVAILABLE properties (rows written
-- past the triggers); real_estate.repair_counters() corrects them.
SELECT count(*) FROM real_estate.check_invariants() WHERE violation = 'counter_drift';

-- name: distribute
-- Distribute the tables by workspace_id on a Citus coordinator (idempotent); one row per step.
SELECT object, action FROM real_estate.distribute_tables(%(shard_count)s::integer);
