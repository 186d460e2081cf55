-- real_estate.release_cutoff(p_retention): now() - p_retention, the time before which the
-- release log is purged; RE010 unless p_retention is at least 1 day. Stable.
CREATE OR REPLACE FUNCTION real_estate.release_cutoff(p_retention interval)
RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    -- Compared as points in time: interval comparison counts a month as 30 days.
    IF p_retention IS NULL OR now() - p_retention > now() - interval '1 day' THEN
        RAISE EXCEPTION 'retention must be at least 1 day, got %', coalesce(p_retention::text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;
    RETURN now() - p_retention;
END;
$function$;

COMMENT ON FUNCTION real_estate.release_cutoff(interval) IS 'now() - p_retention: the log rows of runs started before it are purged (purge_release_log, run_release_job). Raises RE010 (''retention must be at least 1 day, got ...'') unless it lies at least 1 day in the past, compared as points in time (an interval comparison counts a month as 30 days): a shorter retention would purge events that a consumer briefly away has not read yet. `pyrelease schedule --retention` applies this same check. Stable, reads nothing.';

REVOKE ALL ON FUNCTION real_estate.release_cutoff(interval) FROM PUBLIC;
