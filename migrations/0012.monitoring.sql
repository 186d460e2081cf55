-- depends: 0011.release-pick-index
-- pyrelease 0012: monitoring with least privilege.
--   real_estate_monitor            a NOLOGIN role (like the other two: created when missing,
--                                  shared by the server's databases) whose members run
--                                  `pyrelease status [--check] [--json]` and the exporter:
--                                  SELECT on the tables status reads, nothing it can write;
--                                  EXECUTE on release_health() is granted in plpgsql/.
--   real_estate.release_schedule   the release job as pyrelease registered it in pg_cron (one
--                                  row), so that the health rule reads this database only:
--                                  pg_cron's own tables usually live in another database.
-- New objects only: nothing existing is locked beyond the GRANTs' brief catalog updates.
SET LOCAL lock_timeout = '10s';

-- Safe under concurrency (two databases of one server migrating at once) and skipped when the
-- role exists, so that an owner without CREATEROLE migrates once a DBA created it
-- (`pyrelease grants --owner ROLE` prints that SQL).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'real_estate_monitor') THEN
        BEGIN
            CREATE ROLE real_estate_monitor NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by a concurrent migration: use it
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'role real_estate_monitor is missing and % may not create it', current_user
                    USING HINT = 'as a superuser, run what `pyrelease grants --owner ' || current_user || '` prints, then migrate again';
        END;
    END IF;
END
$$;

CREATE TABLE real_estate.release_schedule (
    singleton boolean NOT NULL DEFAULT true,
    job_name text NOT NULL,
    jobid bigint NOT NULL,
    schedule text NOT NULL,
    cron_database text NOT NULL,
    schedule_interval interval NOT NULL,
    active boolean NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT release_schedule_pkey PRIMARY KEY (singleton),
    CONSTRAINT release_schedule_singleton_check CHECK (singleton),
    CONSTRAINT release_schedule_interval_check CHECK (schedule_interval > interval '0')
);
COMMENT ON TABLE real_estate.release_schedule IS
    'The release job as pyrelease last registered it in pg_cron (one row, none when unscheduled); written by pyrelease schedule/migrate/unschedule, read by the health rule (release_health)';
COMMENT ON COLUMN real_estate.release_schedule.schedule_interval IS
    'The longest gap between two consecutive runs of the schedule, computed when it was registered';
COMMENT ON COLUMN real_estate.release_schedule.registered_at IS
    'When the job, its schedule, database or active flag last changed';

REVOKE ALL ON real_estate.release_schedule FROM PUBLIC;
GRANT SELECT ON real_estate.release_schedule TO real_estate_reader;

GRANT USAGE ON SCHEMA real_estate TO real_estate_monitor;
GRANT SELECT ON real_estate.workspace, real_estate.project, real_estate.property,
                real_estate.release_run, real_estate.release_schedule
   TO real_estate_monitor;

-- yoyo's log, so that status tells a monitor which migrations are pending; granted only by a
-- role that may (the log's owner, normally the role that migrates).
DO $$
BEGIN
    IF pg_catalog.to_regclass('public._yoyo_migration') IS NOT NULL
       AND pg_catalog.has_table_privilege('public._yoyo_migration', 'SELECT WITH GRANT OPTION') THEN
        GRANT SELECT ON public._yoyo_migration TO real_estate_monitor;
    END IF;
END
$$;
