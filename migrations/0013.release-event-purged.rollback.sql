-- Rolls back pyrelease 0013: the purge record and the monitor's SELECT on release_event. The
-- routines that read the record (release_events, purge_release_log, release_health, from
-- plpgsql/) fail until the next migrate reinstalls the plpgsql/ of the package migrating.
SET LOCAL lock_timeout = '10s';

DELETE FROM real_estate.routine_source;
DROP TABLE IF EXISTS real_estate.release_event_purged;
REVOKE SELECT ON real_estate.release_event FROM real_estate_monitor;
