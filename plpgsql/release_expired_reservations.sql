-- real_estate.release_expired_reservations(p_batch_size): releases every expired
-- reservation (reserved_until <= now()) of ACTIVE workspaces, in batches of at most
-- p_batch_size rows, and returns how many it released. Runs inside the caller's
-- transaction (a function cannot commit; the scheduled run, real_estate.run_release_job,
-- commits per batch instead).
-- Promises: idempotent and safe under any concurrency: rows are picked with
-- FOR UPDATE SKIP LOCKED, so concurrent runs split the work, a row held elsewhere is left
-- for the next run (so is a row whose project counter another transaction is changing), and
-- each reservation is released and logged exactly once; concurrent calls never deadlock. A
-- row that cannot be released is recorded as a failure on the run and does not stop the others.
-- A call that finds nothing to release writes nothing (no run row).
CREATE OR REPLACE FUNCTION real_estate.release_expired_reservations(p_batch_size integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_batch record;
    v_run_id bigint;
    v_skip_ids uuid[] := '{}'::uuid[];
    v_after timestamptz;
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

    LOOP
        SELECT * INTO v_batch
          FROM real_estate.release_batch('call', p_batch_size, v_run_id, v_skip_ids, v_after);
        v_run_id := v_batch.run_id;
        v_after := v_batch.last_reserved_until;
        v_released := v_released + v_batch.released;
        v_failed := v_failed + v_batch.failed;
        v_skip_ids := v_skip_ids || v_batch.skipped_ids;
        v_error := coalesce(v_error, v_batch.error);
        EXIT WHEN v_batch.picked < p_batch_size;
    END LOOP;

    IF v_run_id IS NOT NULL THEN
        PERFORM real_estate.record_release_run(v_run_id, v_released, v_failed, v_error, true);
    END IF;
    RETURN v_released;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.release_expired_reservations(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.release_expired_reservations(integer) TO real_estate_app;
