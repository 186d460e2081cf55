-- real_estate.purge_release_log(p_retention): deletes the oldest release events, a prefix of
-- their ids, up to the first one of a run started within p_retention (and never one a running
-- writer may still commit before), records the highest id deleted (release_event_purged),
-- deletes the runs so emptied, and this database's release jobs' pg_cron run history as old,
-- when pg_cron lives here and the owner may. Returns the runs deleted. Idempotent.
CREATE OR REPLACE FUNCTION real_estate.purge_release_log(p_retention interval DEFAULT interval '30 days')
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_cutoff timestamptz;
    v_first_kept_run bigint;
    v_purged bigint;
    v_upto bigint;
    v_floor bigint;
    v_runs integer;
BEGIN
    v_cutoff := real_estate.release_cutoff(p_retention);

    -- Runs before the first one (in id order) started within the retention are old.
    SELECT r.id INTO v_first_kept_run
      FROM real_estate.release_run AS r
     WHERE r.started_at >= v_cutoff
     ORDER BY r.id
     LIMIT 1;
    -- (None: every run is old; no run at all: nothing is.)
    v_first_kept_run := coalesce(v_first_kept_run, (SELECT max(r.id) + 1 FROM real_estate.release_run AS r), 0);

    -- Events are deleted from the oldest on, up to (not including) the first event of a run
    -- that is not old, and below the lowest id a running writer may still commit (read after
    -- the events, as release_events does): what stays is a suffix of the ids, so that a
    -- consumer whose cursor was passed learns it (release_events).
    SELECT coalesce(max(p.purged_through), 0) INTO v_purged FROM real_estate.release_event_purged AS p;
    SELECT max(e.id) INTO v_upto
      FROM real_estate.release_event AS e
     WHERE e.id > v_purged
       AND e.id < coalesce((SELECT k.id FROM real_estate.release_event AS k
                             WHERE k.id > v_purged AND k.run_id >= v_first_kept_run
                             ORDER BY k.id LIMIT 1), 9223372036854775807);
    v_floor := real_estate.release_event_floor();
    IF v_floor <= v_upto THEN
        SELECT max(e.id) INTO v_upto
          FROM real_estate.release_event AS e
         WHERE e.id > v_purged AND e.id < v_floor;
    END IF;
    IF v_upto IS NOT NULL THEN
        DELETE FROM real_estate.release_event AS e WHERE e.id > v_purged AND e.id <= v_upto;
        INSERT INTO real_estate.release_event_purged AS p (singleton, purged_through, purged_at)
        VALUES (true, v_upto, now())
        ON CONFLICT ON CONSTRAINT release_event_purged_pkey DO UPDATE
           SET purged_through = greatest(p.purged_through, excluded.purged_through),
               purged_at = excluded.purged_at;
    END IF;

    -- The old runs left without events (a run with an event still kept stays until it goes).
    DELETE FROM real_estate.release_run AS r
     WHERE r.id < v_first_kept_run
       AND r.id <> ALL (ARRAY(SELECT DISTINCT e.run_id FROM real_estate.release_event AS e
                               WHERE e.run_id < v_first_kept_run));
    GET DIAGNOSTICS v_runs = ROW_COUNT;

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
    RETURN v_runs;
END;
$function$;

COMMENT ON FUNCTION real_estate.purge_release_log(interval) IS 'Deletes the release log older than p_retention (real_estate.release_cutoff: RE010 unless at least 1 day). The runs before the first one (in id order) that started within the retention are old; release events are deleted from the oldest id up to, not including, the first event of a run that is not old or the lowest id a running writer may still commit (release_event_floor), so that the events kept are always a suffix of the ids: the highest id deleted is recorded in real_estate.release_event_purged, and release_events() tells a consumer whose cursor is below it (RE030) instead of skipping. The old runs left without events are deleted (a run with an event kept stays until that event goes). Then, when pg_cron lives in this database and the owner may (USAGE on schema cron, DELETE on cron.job_run_details), the rows of this database''s release jobs in cron.job_run_details older than that (keyed on start_time: a failed run can have no end_time). Returns the number of release_run rows deleted. Cost: what it deletes (it walks the ids from the last purge on). Idempotent; concurrent purges agree (the record only grows); the scheduled run calls it at its end.';

REVOKE ALL ON FUNCTION real_estate.purge_release_log(interval) FROM PUBLIC;
