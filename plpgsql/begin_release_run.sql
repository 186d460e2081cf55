-- real_estate.begin_release_run(p_source): opens a row of real_estate.release_run (source
-- 'pg_cron' or 'call') and returns its id.
CREATE OR REPLACE FUNCTION real_estate.begin_release_run(p_source text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_run_id bigint;
BEGIN
    INSERT INTO real_estate.release_run (source, started_at)
    VALUES (p_source, clock_timestamp())
    RETURNING id INTO v_run_id;
    RETURN v_run_id;
END;
$function$;

COMMENT ON FUNCTION real_estate.begin_release_run(text) IS 'Opens a release run: inserts a row into real_estate.release_run with source p_source (''pg_cron'' for the scheduled run, ''call'' for everything else) and started_at = clock_timestamp(), and returns its id. The row stays unfinished (finished_at NULL) until record_release_run finishes it, so a run killed midway stays visible as such.';

REVOKE ALL ON FUNCTION real_estate.begin_release_run(text) FROM PUBLIC;
