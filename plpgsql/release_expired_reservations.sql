-- real_estate.release_expired_reservations(p_batch_size): releases every expired
-- reservation (reserved_until <= now()) of ACTIVE workspaces, in batches of at most
-- p_batch_size rows, and returns how many it released. Runs inside the caller's
-- transaction (a function cannot commit; the scheduled run, real_estate.run_release_job,
-- commits per batch instead).
-- One pick per run (real_estate.release_pick, ordered by workspace, project and row), cut
-- into batches of consecutive rows, so that each batch touches few projects and each
-- project's counter row is written by one or two batches of the run, not by every batch;
-- each batch is one statement (real_estate.release_batch).
-- Promises: idempotent and safe under any concurrency: rows are locked FOR UPDATE SKIP
-- LOCKED and re-checked under the lock, so concurrent runs split the work, a row held
-- elsewhere is left for the next run (so is a row whose project counter another transaction
-- is changing), and each reservation is released and logged exactly once; concurrent calls
-- never deadlock. A row that cannot be released is recorded as a failure on the run and
-- does not stop the others. A call that finds nothing to release writes nothing (no run row).
CREATE OR REPLACE FUNCTION real_estate.release_expired_reservations(p_batch_size integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_ctids tid[];
    v_ids uuid[];
    v_projects uuid[];
    v_workspaces uuid[];
    v_batch record;
    v_run_id bigint;
    v_n integer;
    v_i integer := 1;
    v_j integer;
    v_released integer := 0;
    v_failed integer := 0;
    v_error text;
BEGIN
    IF p_batch_size IS NULL OR p_batch_size < 1 THEN
        RAISE EXCEPTION 'batch size must be a positive integer, got %', coalesce(p_batch_size::text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;

    IF real_estate.is_distributed() THEN
        -- Citus: batches that each stay inside one shard group (pyrelease distribute).
        RETURN real_estate.release_expired_in_shard_groups(p_batch_size);
    END IF;

    -- Nothing expired (the steady state): one scan of the partial index, and nothing else
    -- to compile or plan. pg_cron runs each job in a new session, which pays for both.
    IF NOT EXISTS (SELECT FROM real_estate.property AS p
                    WHERE p.status = 'RESERVED' AND p.reserved_until <= now()) THEN
        RETURN 0;
    END IF;

    SELECT k.ctids, k.ids, k.project_ids, k.workspace_ids
      INTO v_ctids, v_ids, v_projects, v_workspaces
      FROM real_estate.release_pick() AS k;
    v_n := cardinality(v_ctids);

    WHILE v_i <= v_n LOOP
        v_j := least(v_i + p_batch_size - 1, v_n);
        SELECT * INTO v_batch
          FROM real_estate.release_batch('call', v_run_id, v_ctids[v_i:v_j], v_ids[v_i:v_j],
                                         v_projects[v_i:v_j], v_workspaces[v_i:v_j]);
        v_run_id := v_batch.run_id;
        v_released := v_released + v_batch.released;
        v_failed := v_failed + v_batch.failed;
        v_error := coalesce(v_error, v_batch.error);
        v_i := v_j + 1;
    END LOOP;

    IF v_run_id IS NOT NULL THEN
        PERFORM real_estate.record_release_run(v_run_id, v_released, v_failed, v_error, true);
    END IF;
    RETURN v_released;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.release_expired_reservations(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.release_expired_reservations(integer) TO real_estate_app;
