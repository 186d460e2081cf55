-- Rolls back pyrelease 0002: the triggers, then the functions and the procedure.
-- Fail fast instead of queueing behind a long transaction (and blocking others behind us).
SET LOCAL lock_timeout = '10s';

DROP TRIGGER project_guard_available_plots_update ON real_estate.project;
DROP TRIGGER project_guard_available_plots_insert ON real_estate.project;
DROP TRIGGER property_sync_available_plots_truncate ON real_estate.property;
DROP TRIGGER property_sync_available_plots_delete ON real_estate.property;
DROP TRIGGER property_sync_available_plots_update ON real_estate.property;
DROP TRIGGER property_sync_available_plots_insert ON real_estate.property;
DROP FUNCTION real_estate.project_guard_available_plots();
DROP FUNCTION real_estate.property_sync_available_plots();
DROP PROCEDURE real_estate.run_release_job(integer, interval);
DROP FUNCTION real_estate.purge_release_log(interval);
DROP FUNCTION real_estate.reserve_property(uuid, uuid, interval);
DROP FUNCTION real_estate.release_reservation(uuid);
DROP FUNCTION real_estate.release_expired_reservations(integer);
DROP FUNCTION real_estate.release_batch(text, integer, bigint, uuid[], timestamptz);
DROP FUNCTION real_estate.release_rows(bigint, uuid[], uuid[]);
DROP FUNCTION real_estate.record_release_run(bigint, integer, integer, text, boolean);
DROP FUNCTION real_estate.begin_release_run(text);
