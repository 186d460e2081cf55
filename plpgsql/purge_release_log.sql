-- real_estate.purge_release_log(p_retention): deletes release runs (and their events)
-- that started more than p_retention ago, and, when pg_cron lives in this database, this
-- job's rows in cron.job_run_details older than that (keyed on start_time: a failed run can
-- have no end_time). Returns the number of release_run rows deleted. Idempotent.
CREATE OR REPLACE FUNCTION real_estate.purge_release_log(p_retention interval DEFAULT interval '30 days')
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_cutoff timestamptz;
    v_run_ids bigint[];
BEGIN
    IF p_retention IS NULL OR now() - p_retention >= now() THEN
        RAISE EXCEPTION 'retention must be a positive interval, got %', coalesce(p_retention::text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;
    v_cutoff := now() - p_retention;

    SELECT coalesce(array_agg(r.id), '{}') INTO v_run_ids
      FROM real_estate.release_run AS r
     WHERE r.started_at < v_cutoff;
    DELETE FROM real_estate.release_event AS e WHERE e.run_id = ANY (v_run_ids);
    DELETE FROM real_estate.release_run AS r WHERE r.id = ANY (v_run_ids);

    IF current_setting('cron.database_name', true) = current_database()
       AND to_regclass('cron.job_run_details') IS NOT NULL THEN
        EXECUTE $sql$
            DELETE FROM cron.job_run_details AS d
             WHERE d.start_time < $1
               AND d.jobid IN (SELECT j.jobid FROM cron.job AS j
                                WHERE j.jobname = 'release-expired-reservations'
                                  AND j.database = current_database())
        $sql$ USING v_cutoff;
    END IF;
    RETURN cardinality(v_run_ids);
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.purge_release_log(interval) FROM PUBLIC;
