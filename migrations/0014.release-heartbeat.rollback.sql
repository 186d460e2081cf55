-- Rolls back pyrelease 0014: what plpgsql/ installed on top of it (release_health() of the
-- new shape, record_release_heartbeat(): the next migrate reinstalls them), the heartbeat, and
-- the registration's timezone. The heartbeat goes back into the run log as one scheduled run,
-- where the health rule before 0014 reads it. Until the next migrate the scheduled run fails
-- (its routine records the heartbeat): `pyrelease migrate` of either version repairs it.
SET LOCAL lock_timeout = '10s';

INSERT INTO real_estate.release_run (source, started_at, finished_at)
SELECT 'pg_cron', h.started_at, h.finished_at
  FROM real_estate.release_heartbeat AS h
 WHERE NOT EXISTS (SELECT FROM real_estate.release_run AS r
                    WHERE r.source = 'pg_cron' AND r.started_at >= h.started_at);

DROP FUNCTION IF EXISTS real_estate.release_health(boolean);
DROP FUNCTION IF EXISTS real_estate.record_release_heartbeat(timestamptz, boolean);
DELETE FROM real_estate.routine_source;
DROP TABLE real_estate.release_heartbeat;
ALTER TABLE real_estate.release_schedule DROP COLUMN timezone;
