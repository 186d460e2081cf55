-- real_estate.release_expired_reservations(p_batch_size): releases every expired reservation
-- of ACTIVE workspaces in the caller's transaction: one pick, cut into batches of one shard
-- group (real_estate.release_batch). Idempotent, never waits on or deadlocks with another
-- run; a row is released once. Returns how many; writes nothing when nothing expired.
DROP FUNCTION IF EXISTS real_estate.release_expired_in_shard_groups(integer);
DROP FUNCTION IF EXISTS real_estate.release_shard_groups(integer);

CREATE OR REPLACE FUNCTION real_estate.release_expired_reservations(p_batch_size integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_pick record;
    v_batch record;
    v_run_id bigint;
    v_i integer := 1;
    v_j integer;
    v_released integer := 0;
    v_failed integer := 0;
    v_error text;
BEGIN
    PERFORM real_estate.check_batch_size(p_batch_size);

    -- Nothing expired (the steady state): one scan of the partial index, and nothing else
    -- to compile or plan. pg_cron runs each job in a new session, which pays for both.
    IF NOT EXISTS (SELECT 1 FROM real_estate.property AS p
                    WHERE p.status = 'RESERVED' AND p.reserved_until <= now()) THEN
        RETURN 0;
    END IF;

    -- The pick held in a record: its arrays stay flat, so that each batch's slice copies only
    -- the batch (an array variable is expanded, and each slice of it copied it whole).
    SELECT k.ctids, k.ids, k.project_ids, k.workspace_ids INTO v_pick FROM real_estate.release_pick() AS k;

    FOREACH v_j IN ARRAY real_estate.release_batch_ends(v_pick.workspace_ids, p_batch_size, real_estate.shard_bounds()) LOOP
        SELECT * INTO v_batch
          FROM real_estate.release_batch('call', v_run_id, v_pick.ctids[v_i:v_j], v_pick.ids[v_i:v_j],
                                         v_pick.project_ids[v_i:v_j], v_pick.workspace_ids[v_i:v_j]);
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

COMMENT ON FUNCTION real_estate.release_expired_reservations(integer) IS 'Releases every expired reservation (reserved_until <= now()) of ACTIVE workspaces, in batches of at most p_batch_size rows (RE010 unless positive), and returns how many it released. Runs in the caller''s transaction (the scheduled run, run_release_job, commits per batch instead). One pick (real_estate.release_pick, ordered by shard group, workspace, project and row) cut into batches of consecutive rows of one shard group (real_estate.release_batch_ends), each released in one statement (real_estate.release_batch), so each batch touches few counter rows and, on Citus, one worker (a call that releases in several shard groups commits on several workers: prefer the procedure there). Idempotent and safe under any concurrency: rows are locked FOR UPDATE SKIP LOCKED and re-checked under the lock, so concurrent runs split the work, a row (or a project counter) held elsewhere is left for the next run, each reservation is released and logged exactly once, and concurrent calls never deadlock. A row that cannot be released is recorded as a failure on the run and does not stop the others. Nothing expired: one scan of the partial index, and no run row written.';

REVOKE ALL ON FUNCTION real_estate.release_expired_reservations(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.release_expired_reservations(integer) TO real_estate_app;
