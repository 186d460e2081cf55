-- real_estate.run_release_job(p_batch_size, p_retention): the scheduled run, what pg_cron
-- executes (CALL real_estate.run_release_job()). Records a 'pg_cron' run and commits it at
-- once (a run killed midway stays visible as unfinished), then releases expired
-- reservations batch by batch, COMMITTING AFTER EACH BATCH so that no row lock on a
-- property or a project counter is held for longer than one batch, then purges log rows
-- older than p_retention.
-- Promises: the same as real_estate.release_expired_reservations (SKIP LOCKED, each
-- reservation released once, failures recorded, never waits on rows held elsewhere); runs
-- that queue up back to back or overlap simply share the work.
-- A procedure that commits can be neither SECURITY DEFINER nor carry a SET clause, so the
-- body stays minimal, every name is schema-qualified, every operator is pg_catalog's, and
-- the work is done by pinned-search_path functions.
-- Its default batch is 100 rows, smaller than the function's 1000: each batch holds the
-- counter rows of the projects it touches until it commits, and short batches keep the
-- application's reservations in those projects from waiting (see README, Performance).
CREATE OR REPLACE PROCEDURE real_estate.run_release_job(
    p_batch_size integer DEFAULT 100,
    p_retention interval DEFAULT interval '30 days'
)
LANGUAGE plpgsql
AS $procedure$
DECLARE
    v_batch pg_catalog.record;
    v_run_id bigint;
    v_skip_ids pg_catalog.uuid[] := '{}'::pg_catalog.uuid[];
    v_after pg_catalog.timestamptz;
BEGIN
    IF p_batch_size IS NULL OR p_batch_size OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'batch size must be a positive integer, got %', coalesce(p_batch_size::pg_catalog.text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;
    IF p_retention IS NULL
       OR pg_catalog.now() OPERATOR(pg_catalog.-) p_retention OPERATOR(pg_catalog.>=) pg_catalog.now() THEN
        RAISE EXCEPTION 'retention must be a positive interval, got %', coalesce(p_retention::pg_catalog.text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;

    IF real_estate.is_distributed() THEN
        -- Citus: one shard group at a time, each batch on one worker (pyrelease distribute).
        CALL real_estate.run_distributed_release_job(p_batch_size, p_retention);
        RETURN;
    END IF;

    v_run_id := real_estate.begin_release_run('pg_cron');
    COMMIT;

    LOOP
        SELECT * INTO v_batch
          FROM real_estate.release_batch('pg_cron', p_batch_size, v_run_id, v_skip_ids, v_after);
        v_skip_ids := v_skip_ids OPERATOR(pg_catalog.||) v_batch.skipped_ids;
        PERFORM real_estate.record_release_run(v_run_id, v_batch.released, v_batch.failed,
            v_batch.error, false);
        COMMIT;
        EXIT WHEN v_batch.picked OPERATOR(pg_catalog.<) p_batch_size;
        -- Resume where this batch began: the next scan walks over this batch's entries,
        -- committed now, and marks them dead in the index (see release_batch).
        v_after := v_batch.first_reserved_until;
    END LOOP;

    PERFORM real_estate.purge_release_log(p_retention);
    PERFORM real_estate.record_release_run(v_run_id, 0, 0, NULL, true);
    COMMIT;
END;
$procedure$;

REVOKE ALL ON PROCEDURE real_estate.run_release_job(integer, interval) FROM PUBLIC;
