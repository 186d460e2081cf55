-- real_estate.begin_release_run(p_source): opens a row in real_estate.release_run and
-- returns its id. p_source is 'pg_cron' (the scheduled run) or 'call' (everything else).
CREATE OR REPLACE FUNCTION real_estate.begin_release_run(p_source text)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
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

REVOKE ALL ON FUNCTION real_estate.begin_release_run(text) FROM PUBLIC;
