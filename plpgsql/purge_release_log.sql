-- real_estate.purge_release_log(p_retention): deletes the release runs (and their events)
-- started more than p_retention ago, and this database's release jobs' pg_cron run history
-- as old, when pg_cron lives here and the owner may. Returns the runs deleted. Idempotent.
CREATE OR REPLACE FUNCTION real_estate.purge_release_log(p_retention interval DEFAULT interval '30 days')
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_cutoff timestamptz;
    v_run_ids bigint[];
BEGIN
    v_cutoff := real_estate.release_cutoff(p_retention);

    SELECT coalesce(array_agg(r.id), '{}') INTO v_run_ids
      FROM real_estate.release_run AS r
     WHERE r.started_at < v_cutoff;
    DELETE FROM real_estate.release_event AS e WHERE e.run_id = ANY (v_run_ids);
    DELETE FROM real_estate.release_run AS r WHERE r.id = ANY (v_run_ids);

    -- pg_cron's tables exist here only in cron.database_name (CREATE EXTENSION is refused
    -- elsewhere), so their presence settles it without reading that setting, which is
    -- superuser-only (a non-superuser owner's every scheduled run would fail on it). The
    -- jobs are this database's own (cron.job.database); pg_cron's row security already
    -- limits a non-superuser owner to its own jobs. Without the rights to purge them (no
    -- USAGE on schema cron here), the run history is left alone rather than failing the run.
    IF EXISTS (SELECT 1 FROM pg_extension AS x WHERE x.extname = 'pg_cron')
       AND has_schema_privilege(current_user, 'cron', 'USAGE') THEN
        -- (nested: has_table_privilege resolves the name, which needs USAGE on cron)
        IF has_table_privilege(current_user, 'cron.job_run_details', 'DELETE')
           AND has_table_privilege(current_user, 'cron.job', 'SELECT') THEN
            EXECUTE $sql$
                DELETE FROM cron.job_run_details AS d
                 WHERE d.start_time < $1
                   AND d.jobid IN (SELECT j.jobid FROM cron.job AS j
                                    WHERE j.database = current_database()
                                      AND j.jobname LIKE 'release-expired-reservations%')
            $sql$ USING v_cutoff;
        END IF;
    END IF;
    RETURN cardinality(v_run_ids);
END;
$function$;

COMMENT ON FUNCTION real_estate.purge_release_log(interval) IS 'Deletes the release runs that started more than p_retention ago (real_estate.release_cutoff: RE010 unless a positive interval) and their release events, and, when pg_cron lives in this database and the owner may (USAGE on schema cron, DELETE on cron.job_run_details), the rows of this database''s release jobs in cron.job_run_details older than that (keyed on start_time: a failed run can have no end_time). Returns the number of release_run rows deleted. Idempotent; the scheduled run calls it at its end.';

REVOKE ALL ON FUNCTION real_estate.purge_release_log(interval) FROM PUBLIC;
