-- real_estate.release_cutoff(p_retention): now() - p_retention, the time before which the
-- release log is purged; RE010 unless p_retention is a positive interval. Stable.
CREATE OR REPLACE FUNCTION real_estate.release_cutoff(p_retention interval)
RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    -- Compared as a point in time: interval comparison counts a month as 30 days.
    IF p_retention IS NULL OR now() - p_retention >= now() THEN
        RAISE EXCEPTION 'retention must be a positive interval, got %', coalesce(p_retention::text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;
    RETURN now() - p_retention;
END;
$function$;

COMMENT ON FUNCTION real_estate.release_cutoff(interval) IS 'now() - p_retention: the log rows of runs started before it are purged (purge_release_log, run_release_job). Raises RE010 (''retention must be a positive interval, got ...'') unless it lies in the past, compared as a point in time (an interval comparison counts a month as 30 days). Stable, reads nothing.';

REVOKE ALL ON FUNCTION real_estate.release_cutoff(interval) FROM PUBLIC;
