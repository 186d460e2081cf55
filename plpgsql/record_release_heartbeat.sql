-- real_estate.record_release_heartbeat(p_started_at, p_finished): the scheduled run's one-row
-- heartbeat: the latest start, and with p_finished the latest finish (now). Never moves back
-- (concurrent runs); one row whatever the number of runs.
CREATE OR REPLACE FUNCTION real_estate.record_release_heartbeat(
    p_started_at timestamptz,
    p_finished boolean
)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_finished_at timestamptz := CASE WHEN p_finished THEN clock_timestamp() END;
BEGIN
    -- An UPDATE first: the row is there but for the first run (an upsert would also lock it,
    -- one more WAL record per run).
    UPDATE real_estate.release_heartbeat AS h
       SET started_at = greatest(h.started_at, p_started_at),
           finished_at = greatest(h.finished_at, v_finished_at)
     WHERE h.singleton;
    IF NOT FOUND THEN
        INSERT INTO real_estate.release_heartbeat AS h (singleton, started_at, finished_at)
        VALUES (true, p_started_at, v_finished_at)
        ON CONFLICT ON CONSTRAINT release_heartbeat_pkey
        DO UPDATE SET started_at = greatest(h.started_at, excluded.started_at),
                      finished_at = greatest(h.finished_at, excluded.finished_at);
    END IF;
END;
$function$;

COMMENT ON FUNCTION real_estate.record_release_heartbeat(timestamptz, boolean) IS 'The scheduled run''s heartbeat (real_estate.release_heartbeat, one row): started_at becomes p_started_at unless a later start is recorded, and with p_finished finished_at becomes clock_timestamp() (neither ever moves back, whatever the order concurrent runs record in). run_release_job records a run with work to do when it starts (before its first batch) and every run when it finishes; a run with nothing to do writes only this: one row, updated in place, whatever the schedule. The health rule reads it (release_health): the last finished run, and a run started after it within the limit is in progress.';

REVOKE ALL ON FUNCTION real_estate.record_release_heartbeat(timestamptz, boolean) FROM PUBLIC;
