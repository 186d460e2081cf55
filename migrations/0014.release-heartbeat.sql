-- depends: 0013.release-event-purged
-- pyrelease 0014: the scheduled run's heartbeat in a bounded form, and the zone pg_cron reads
-- the release job's schedule in.
--   real_estate.release_heartbeat    one row (none before the first scheduled run), updated
--                                    by every scheduled run: when the last one started and
--                                    when the last one finished. A run with nothing to
--                                    release writes only this row (release_run gets a row
--                                    only when something was released or failed), so a
--                                    10-second schedule leaves nothing that grows.
--   release_schedule.timezone        cron.timezone when the job was registered (pg_cron 1.5
--                                    and later; GMT before): its interval is computed there.
-- The heartbeat starts from the last scheduled run the log holds, so the health rule sees no
-- gap across the upgrade. release_health() changes shape: dropped here, plpgsql/ installs
-- the new one. A new table and a column with a constant default: brief locks only.
SET LOCAL lock_timeout = '10s';

CREATE TABLE real_estate.release_heartbeat (
    singleton boolean NOT NULL DEFAULT true,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    CONSTRAINT release_heartbeat_pkey PRIMARY KEY (singleton),
    CONSTRAINT release_heartbeat_singleton_check CHECK (singleton)
);
COMMENT ON TABLE real_estate.release_heartbeat IS
    'The scheduled run''s heartbeat (one row, none before the first run): written by run_release_job through record_release_heartbeat, read by the health rule (release_health)';
COMMENT ON COLUMN real_estate.release_heartbeat.started_at IS
    'When the latest scheduled run started (a run that found work records it before its first batch; one with nothing to do, when it finishes)';
COMMENT ON COLUMN real_estate.release_heartbeat.finished_at IS
    'When the last scheduled run finished';

INSERT INTO real_estate.release_heartbeat (singleton, started_at, finished_at)
SELECT true, pg_catalog.max(r.started_at), pg_catalog.max(r.finished_at)
  FROM real_estate.release_run AS r
 WHERE r.source = 'pg_cron'
HAVING pg_catalog.count(*) > 0;

REVOKE ALL ON real_estate.release_heartbeat FROM PUBLIC;
GRANT SELECT ON real_estate.release_heartbeat TO real_estate_reader, real_estate_monitor;

ALTER TABLE real_estate.release_schedule ADD COLUMN timezone text NOT NULL DEFAULT 'GMT';
COMMENT ON COLUMN real_estate.release_schedule.timezone IS
    'cron.timezone when the job was registered (GMT before pg_cron 1.5): schedule_interval is computed in it';

DROP FUNCTION IF EXISTS real_estate.release_health(boolean);
DELETE FROM real_estate.routine_source;
