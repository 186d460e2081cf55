-- The SQL that the Python package sends, one named query per block ("-- name: X",
-- then a one-line description, then the statement). Each wrapper sends exactly one.

-- name: release_expired
-- Release every expired reservation, in batches.
SELECT real_estate.release_expired_reservations(%(batch_size)s::pg_catalog.int4);

-- name: release_reservation
-- Release one reservation if it has expired.
SELECT real_estate.release_reservation(%(property_id)s::pg_catalog.uuid);

-- name: reserve
-- Reserve a property; returns the new reserved_until.
SELECT real_estate.reserve_property(%(property_id)s::pg_catalog.uuid, %(reserved_by_id)s::pg_catalog.uuid,
                                    %(ttl)s::pg_catalog.interval);

-- name: last_runs
-- The latest rows of the package's run log.
SELECT r.id, r.source, r.started_at, r.finished_at, r.released, r.failed, r.error
  FROM real_estate.release_run AS r
 ORDER BY r.id DESC
 LIMIT %(limit)s;

-- name: cron_settings
-- Where pg_cron runs, seen from here: whether its extension is in this database, and
-- cron.database_name when this role may read it (the setting is superuser-only unless the
-- role has pg_read_all_settings; NULL also when pg_cron is not loaded).
SELECT EXISTS (SELECT FROM pg_catalog.pg_extension AS x WHERE x.extname OPERATOR(pg_catalog.=) 'pg_cron') AS here,
       pg_catalog.pg_has_role('pg_read_all_settings', 'MEMBER') AS readable,
       CASE WHEN pg_catalog.pg_has_role('pg_read_all_settings', 'MEMBER')
            THEN pg_catalog.current_setting('cron.database_name', true) END AS cron_database,
       pg_catalog.current_database() AS database;

-- name: cron_timezone
-- The zone pg_cron reads schedules in (pg_cron 1.5 and later), when this role may read the
-- setting (superuser-only unless the role has pg_read_all_settings).
SELECT CASE WHEN pg_catalog.pg_has_role('pg_read_all_settings', 'MEMBER')
            THEN pg_catalog.current_setting('cron.timezone', true) END;

-- name: cron_version
-- The version of the pg_cron the server has installed (its control file: what the server
-- loads), from pg_cron's database.
SELECT a.default_version FROM pg_catalog.pg_available_extensions AS a
 WHERE a.name OPERATOR(pg_catalog.=) 'pg_cron';

-- name: cron_installed
-- Whether the pg_cron extension exists in the connected database.
SELECT EXISTS (SELECT FROM pg_catalog.pg_extension AS x WHERE x.extname OPERATOR(pg_catalog.=) 'pg_cron');

-- name: release_jobs
-- The release jobs of a database: those that run the procedure there, whoever registered
-- them (a job belongs to its target database, not to a name or a user), oldest first.
SELECT j.jobid, j.jobname, j.schedule, j.command, j.database, j.active
  FROM cron.job AS j
 WHERE j.database OPERATOR(pg_catalog.=) %(database)s::pg_catalog.text
   AND pg_catalog.starts_with(j.command, 'CALL real_estate.run_release_job')
 ORDER BY j.jobid;

-- name: named_jobs
-- The jobs of that name, whatever database they run in.
SELECT j.jobid, j.jobname, j.schedule, j.command, j.database, j.active
  FROM cron.job AS j
 WHERE j.jobname OPERATOR(pg_catalog.=) %(jobname)s::pg_catalog.name
 ORDER BY j.jobid;

-- name: orphan_release_jobs
-- Release jobs on the node of job `jobid` whose database no longer exists (dropped or
-- renamed without a rollback): they can only fail. A NULL jobid (the release job is not
-- registered yet): on any node, since pg_cron registers every job on its own node.
SELECT j.jobid, j.database
  FROM cron.job AS j
  LEFT JOIN cron.job AS this ON this.jobid OPERATOR(pg_catalog.=) %(jobid)s::pg_catalog.int8
 WHERE pg_catalog.starts_with(j.command, 'CALL real_estate.run_release_job')
   AND (%(jobid)s::pg_catalog.int8 IS NULL
        OR (j.nodename OPERATOR(pg_catalog.=) this.nodename
            AND j.nodeport OPERATOR(pg_catalog.=) this.nodeport))
   AND NOT EXISTS (SELECT FROM pg_catalog.pg_database AS d
                    WHERE d.datname OPERATOR(pg_catalog.=) j.database::pg_catalog.name);

-- name: schedule_job
-- Register a new job for a database (an existing one is re-pointed with alter_job:
-- re-scheduling by name keeps an old database and active flag).
SELECT cron.schedule_in_database(%(jobname)s::pg_catalog.text, %(schedule)s::pg_catalog.text,
                                 %(command)s::pg_catalog.text, %(database)s::pg_catalog.text);

-- name: alter_job
-- Re-point an existing job: schedule, command, database and active flag.
SELECT cron.alter_job(%(jobid)s::pg_catalog.int8, %(schedule)s::pg_catalog.text,
                      %(command)s::pg_catalog.text, %(database)s::pg_catalog.text, NULL, true);

-- name: unschedule_job
-- Remove the job by id.
SELECT cron.unschedule(%(jobid)s::pg_catalog.int8);

-- name: job_runs
-- The latest pg_cron runs of the release job.
SELECT d.runid, d.status, d.start_time, d.end_time, d.return_message
  FROM cron.job_run_details AS d
 WHERE d.jobid OPERATOR(pg_catalog.=) %(jobid)s::pg_catalog.int8
 ORDER BY d.start_time DESC
 LIMIT %(limit)s;

-- name: retention
-- A retention interval as PostgreSQL reads it, checked by the routines' own rule
-- (real_estate.release_cutoff: RE010 under 1 day). The owner's code: only the owner runs it.
SELECT %(retention)s::pg_catalog.interval::pg_catalog.text,
       real_estate.release_cutoff(%(retention)s::pg_catalog.interval) IS NOT NULL;

-- name: has_release_cutoff
-- Whether the retention rule is installed (not in a database the printed script migrates).
SELECT pg_catalog.to_regprocedure('real_estate.release_cutoff(pg_catalog.interval)') IS NOT NULL;

-- name: retention_unchecked
-- A retention interval as PostgreSQL reads it (before the rule is installed).
SELECT %(retention)s::pg_catalog.interval::pg_catalog.text, true;

-- name: routine_source
-- The SHA-256 of the plpgsql/ source last installed (pyrelease/install.py).
SELECT s.sha256 FROM real_estate.routine_source AS s;

-- name: record_routine_source
-- Record the SHA-256 of the plpgsql/ source just installed.
INSERT INTO real_estate.routine_source (singleton, sha256, installed_at)
VALUES (true, %(sha256)s::pg_catalog.text, pg_catalog.now())
ON CONFLICT ON CONSTRAINT routine_source_pkey
DO UPDATE SET sha256 = excluded.sha256, installed_at = excluded.installed_at;

-- name: extend
-- The holder moves an unexpired reservation's expiry; returns the new reserved_until.
SELECT real_estate.extend_reservation(%(property_id)s::pg_catalog.uuid, %(reserved_by_id)s::pg_catalog.uuid,
                                      %(ttl)s::pg_catalog.interval);

-- name: cancel
-- The holder gives the property back; true when it did.
SELECT real_estate.cancel_reservation(%(property_id)s::pg_catalog.uuid, %(reserved_by_id)s::pg_catalog.uuid);

-- name: sell
-- The holder's unexpired reservation becomes SOLD.
SELECT real_estate.confirm_sale(%(property_id)s::pg_catalog.uuid, %(reserved_by_id)s::pg_catalog.uuid);

-- name: release_events
-- The release events after a cursor, in id order, none ever skipped.
SELECT id, run_id, property_id, workspace_id, project_id, reserved_by_id, reserved_until,
       released_at, reason
  FROM real_estate.release_events(%(after_id)s::pg_catalog.int8, %(limit)s::pg_catalog.int4);

-- name: listen
-- Subscribe to the one notification per transaction that writes release events.
LISTEN real_estate_release;

-- name: listening
-- Whether this session listens to the release notifications (not behind a transaction
-- pooler: the server session serving this statement is not the one that ran LISTEN).
SELECT EXISTS (SELECT FROM pg_catalog.pg_listening_channels() AS c(name)
                WHERE c.name OPERATOR(pg_catalog.=) 'real_estate_release');

-- name: last_event_id
-- The highest release event id committed or purged so far (where `pyrelease watch` starts by
-- default).
SELECT GREATEST((SELECT pg_catalog.max(e.id) FROM real_estate.release_event AS e),
                (SELECT pg_catalog.max(p.purged_through) FROM real_estate.release_event_purged AS p),
                0);

-- name: events_purged
-- The highest release event id the retention purge deleted (0: none), where a new consumer
-- (cursor 0) starts.
SELECT COALESCE(pg_catalog.max(p.purged_through), 0) FROM real_estate.release_event_purged AS p;

-- name: unlisten
-- Stop listening (listen() on the caller's connection, when its iterator is closed).
UNLISTEN real_estate_release;

-- name: distribute
-- Distribute the tables by workspace_id on a Citus coordinator (idempotent); one row per step.
SELECT object, action FROM real_estate.distribute_tables(%(shard_count)s::pg_catalog.int4);

-- name: ownership
-- Who is asking (current and session role, database), who owns the install (schema
-- real_estate, yoyo's bookkeeping tables in public): each owner with whether it is superuser,
-- and whether the current role is superuser.
SELECT CURRENT_USER::pg_catalog.text, SESSION_USER::pg_catalog.text,
       pg_catalog.current_database()::pg_catalog.text,
       ARRAY(SELECT r.rolname::pg_catalog.text
               FROM pg_catalog.pg_roles AS r
              WHERE r.oid OPERATOR(pg_catalog.=) ANY (o.owners)
              ORDER BY r.oid OPERATOR(pg_catalog.<>) o.schema_owner, r.rolname),
       ARRAY(SELECT r.rolname::pg_catalog.text
               FROM pg_catalog.pg_roles AS r
              WHERE r.oid OPERATOR(pg_catalog.=) ANY (o.owners) AND NOT r.rolsuper),
       (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r
         WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
  FROM (SELECT n.nspowner AS schema_owner,
               ARRAY(SELECT n.nspowner WHERE n.nspowner IS NOT NULL
                     UNION
                     SELECT c.relowner
                       FROM pg_catalog.pg_class AS c
                      WHERE c.relnamespace OPERATOR(pg_catalog.=) 'public'::pg_catalog.regnamespace
                        AND c.relname OPERATOR(pg_catalog.=) ANY (%(bookkeeping)s::pg_catalog.name[]))
                   AS owners
          FROM (SELECT) AS one
          LEFT JOIN pg_catalog.pg_namespace AS n
            ON n.nspname OPERATOR(pg_catalog.=) 'real_estate') AS o;

-- name: existing_tables
-- Which of these tables (schema.name) exist and this role may read (their oids, in the order
-- given); looked up in the catalog, which needs no privilege on their schema.
SELECT t.name, c.oid
  FROM pg_catalog.unnest(%(tables)s::pg_catalog.text[]) WITH ORDINALITY AS t(name, n)
  JOIN pg_catalog.pg_namespace AS s
    ON s.nspname OPERATOR(pg_catalog.=) pg_catalog.split_part(t.name, '.', 1)
  JOIN pg_catalog.pg_class AS c
    ON c.relnamespace OPERATOR(pg_catalog.=) s.oid
   AND c.relname OPERATOR(pg_catalog.=) pg_catalog.split_part(t.name, '.', 2)
 WHERE pg_catalog.has_schema_privilege(s.oid, 'USAGE')
   AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
 ORDER BY t.n;

-- name: unsafe_tables
-- Of the tables locked for reading, those whose reading could run code that a role other than
-- the caller wrote with the caller's rights: not a plain table (a view, or a table turned into
-- one), a table with inheritance children, or one whose row security applies to the caller
-- (its policies run with the caller's rights); an owner that is superuser gains nothing.
SELECT c.oid::pg_catalog.regclass::pg_catalog.text,
       CASE WHEN c.relkind OPERATOR(pg_catalog.<>) 'r' THEN 'is not a plain table'
            WHEN c.relhassubclass THEN 'has inheritance children'
            ELSE 'has row-level security' END
  FROM pg_catalog.pg_class AS c
  JOIN pg_catalog.pg_roles AS owner ON owner.oid OPERATOR(pg_catalog.=) c.relowner
  JOIN pg_catalog.pg_roles AS me ON me.rolname OPERATOR(pg_catalog.=) CURRENT_USER
 WHERE c.oid OPERATOR(pg_catalog.=) ANY (%(oids)s::pg_catalog.oid[])
   AND NOT owner.rolsuper
   AND (c.relkind OPERATOR(pg_catalog.<>) 'r' OR c.relhassubclass
        OR (c.relrowsecurity AND NOT (me.rolsuper OR me.rolbypassrls)
            AND (c.relforcerowsecurity OR c.relowner OPERATOR(pg_catalog.<>) me.oid)))
 ORDER BY 1;

-- name: migration_log
-- Whether pyrelease's schema exists, whether this role may read yoyo's log, and whether the
-- health rule's table exists (what tells a role that cannot read the log that none is pending).
SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace AS s WHERE s.nspname OPERATOR(pg_catalog.=) 'real_estate'),
       EXISTS (SELECT FROM pg_catalog.pg_class AS c
                WHERE c.relnamespace OPERATOR(pg_catalog.=) 'public'::pg_catalog.regnamespace
                  AND c.relname OPERATOR(pg_catalog.=) '_yoyo_migration'
                  AND pg_catalog.has_schema_privilege(c.relnamespace, 'USAGE')
                  AND pg_catalog.has_table_privilege(c.oid, 'SELECT')),
       EXISTS (SELECT FROM pg_catalog.pg_class AS c
                 JOIN pg_catalog.pg_namespace AS s ON s.oid OPERATOR(pg_catalog.=) c.relnamespace
                WHERE s.nspname OPERATOR(pg_catalog.=) 'real_estate'
                  AND c.relname OPERATOR(pg_catalog.=) 'release_schedule');

-- name: applied_migrations
-- The migrations yoyo recorded as applied.
SELECT m.migration_id::pg_catalog.text FROM public._yoyo_migration AS m;

-- name: register_schedule
-- Record the release job as registered (one row); registered_at moves only when the job, its
-- schedule, database or active flag changed (migrate re-registers an unchanged job every time).
INSERT INTO real_estate.release_schedule AS s
       (singleton, job_name, jobid, schedule, cron_database, schedule_interval, active, timezone,
        registered_at)
VALUES (true, %(name)s::pg_catalog.text, %(jobid)s::pg_catalog.int8, %(schedule)s::pg_catalog.text,
        %(cron_database)s::pg_catalog.text, %(interval)s::pg_catalog.interval,
        %(active)s::pg_catalog.bool, %(timezone)s::pg_catalog.text, pg_catalog.now())
ON CONFLICT ON CONSTRAINT release_schedule_pkey
DO UPDATE SET job_name = excluded.job_name, jobid = excluded.jobid, schedule = excluded.schedule,
              cron_database = excluded.cron_database, schedule_interval = excluded.schedule_interval,
              active = excluded.active, timezone = excluded.timezone,
              registered_at = CASE WHEN s.job_name OPERATOR(pg_catalog.=) excluded.job_name
                                    AND s.jobid OPERATOR(pg_catalog.=) excluded.jobid
                                    AND s.schedule OPERATOR(pg_catalog.=) excluded.schedule
                                    AND s.cron_database OPERATOR(pg_catalog.=) excluded.cron_database
                                    AND s.active OPERATOR(pg_catalog.=) excluded.active
                                   THEN s.registered_at ELSE excluded.registered_at END;

-- name: registered_schedule
-- The release job as registered (what register_schedule would leave unchanged); its
-- timezone NULL before migration 0014 (a printed script applies it before it registers).
SELECT s.job_name, s.jobid, s.schedule, s.cron_database, s.schedule_interval, s.active,
       pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.->>) 'timezone'
  FROM real_estate.release_schedule AS s;

-- name: has_release_schedule
-- Whether the registration table exists (not after rolling back to before 0012).
SELECT pg_catalog.to_regclass('real_estate.release_schedule') IS NOT NULL;

-- name: unregister_schedule
-- Forget the release job (pyrelease unschedule), where 0012 installed the table (a rollback
-- drops it before it rolls back 0003, which unschedules).
DO $$
BEGIN
    IF pg_catalog.to_regclass('real_estate.release_schedule') IS NOT NULL THEN
        DELETE FROM real_estate.release_schedule AS s WHERE s.singleton;
    END IF;
END
$$;
