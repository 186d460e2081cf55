-- real_estate.release_expired_in_shard_groups(p_batch_size): what
-- real_estate.release_expired_reservations does once the tables are distributed (Citus):
-- the same release, one shard group after another (real_estate.release_shard_groups), in
-- batches of at most p_batch_size rows that each stay inside one shard group
-- (real_estate.release_workspace_batch). Runs in the caller's transaction, so a call that
-- releases in several shard groups commits on several workers at once (Citus's two-phase
-- commit); the scheduled run (real_estate.run_distributed_release_job) commits per batch
-- instead, each batch on one worker. Returns how many it released; writes no run row
-- when there was nothing to do.
CREATE OR REPLACE FUNCTION real_estate.release_expired_in_shard_groups(p_batch_size integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_group uuid[];
    v_batch record;
    v_run_id bigint;
    v_skip_ids uuid[];
    v_after timestamptz;
    v_released integer := 0;
    v_failed integer := 0;
    v_error text;
BEGIN
    IF p_batch_size IS NULL OR p_batch_size < 1 THEN
        RAISE EXCEPTION 'batch size must be a positive integer, got %', coalesce(p_batch_size::text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;

    FOR v_group IN SELECT g FROM real_estate.release_shard_groups() AS g LOOP
        v_skip_ids := '{}';
        v_after := NULL;
        LOOP
            SELECT * INTO v_batch
              FROM real_estate.release_workspace_batch(v_group, 'call', p_batch_size, v_run_id,
                                                       v_skip_ids, v_after);
            v_run_id := v_batch.run_id;
            v_after := v_batch.last_reserved_until;
            v_released := v_released + v_batch.released;
            v_failed := v_failed + v_batch.failed;
            v_skip_ids := v_skip_ids || v_batch.skipped_ids;
            v_error := coalesce(v_error, v_batch.error);
            EXIT WHEN v_batch.picked < p_batch_size;
        END LOOP;
    END LOOP;

    IF v_run_id IS NOT NULL THEN
        PERFORM real_estate.record_release_run(v_run_id, v_released, v_failed, v_error, true);
    END IF;
    RETURN v_released;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.release_expired_in_shard_groups(integer) FROM PUBLIC;
