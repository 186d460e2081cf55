-- real_estate.run_release_job(p_batch_size, p_retention): the scheduled run, what pg_cron
-- executes (CALL real_estate.run_release_job()). Records a 'pg_cron' run and commits it at
-- once (a run killed midway stays visible as unfinished), then releases expired
-- reservations batch by batch, COMMITTING AFTER EACH BATCH so that no row lock on a
-- property or a project counter is held for longer than one batch, then purges log rows
-- older than p_retention.
-- One pick (real_estate.release_pick, ordered by workspace, project and row) cut into
-- batches of consecutive rows, each released in one statement (real_estate.release_batch);
-- then, once the batches have committed, a last pick over the partial index: it marks the
-- index entries of the rows just released dead (so the next run does not visit them) and
-- releases the reservations that expired while the run went on. Rows the first pick took
-- but could not release (held elsewhere, failing) are the next run's.
-- Promises: the same as real_estate.release_expired_reservations (SKIP LOCKED, each
-- reservation released once, failures recorded, never waits on rows held elsewhere); runs
-- that queue up back to back or overlap simply share the work.
-- A procedure that commits can be neither SECURITY DEFINER nor carry a SET clause, so the
-- body stays minimal, every name is schema-qualified, every operator is pg_catalog's, and
-- the work is done by pinned-search_path functions.
-- Its default batch is smaller than the function's 1000: each batch holds the counter rows
-- of the projects it touches until it commits, and short batches keep the application's
-- reservations in those projects from waiting (see README, Performance).
CREATE OR REPLACE PROCEDURE real_estate.run_release_job(
    p_batch_size integer DEFAULT 250,
    p_retention interval DEFAULT interval '30 days'
)
LANGUAGE plpgsql
AS $procedure$
DECLARE
    v_ctids pg_catalog.tid[];
    v_ids pg_catalog.uuid[];
    v_projects pg_catalog.uuid[];
    v_workspaces pg_catalog.uuid[];
    v_batch pg_catalog.record;
    v_after pg_catalog.timestamptz;
    v_run_id bigint;
    v_n integer;
    v_i integer;
    v_j integer;
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

    FOR v_pass IN 1..2 LOOP
        SELECT k.picked_at, k.ctids, k.ids, k.project_ids, k.workspace_ids
          INTO v_after, v_ctids, v_ids, v_projects, v_workspaces
          FROM real_estate.release_pick(v_after) AS k;
        -- The pick takes no lock: its own transaction, so that the batches' transactions hold
        -- their locks (and a snapshot) only for the length of one batch.
        COMMIT;
        v_n := pg_catalog.cardinality(v_ctids);
        -- Nothing to release (at all: the steady state stays one scan; or since the first pick).
        EXIT WHEN v_n OPERATOR(pg_catalog.=) 0;
        v_i := 1;
        WHILE v_i OPERATOR(pg_catalog.<=) v_n LOOP
            v_j := least(v_i OPERATOR(pg_catalog.+) p_batch_size OPERATOR(pg_catalog.-) 1, v_n);
            SELECT * INTO v_batch
              FROM real_estate.release_batch('pg_cron', v_run_id, v_ctids[v_i:v_j], v_ids[v_i:v_j],
                                             v_projects[v_i:v_j], v_workspaces[v_i:v_j]);
            PERFORM real_estate.record_release_run(v_run_id, v_batch.released, v_batch.failed,
                v_batch.error, false);
            COMMIT;
            v_i := v_j OPERATOR(pg_catalog.+) 1;
        END LOOP;
    END LOOP;

    PERFORM real_estate.purge_release_log(p_retention);
    PERFORM real_estate.record_release_run(v_run_id, 0, 0, NULL, true);
    COMMIT;
END;
$procedure$;

REVOKE ALL ON PROCEDURE real_estate.run_release_job(integer, interval) FROM PUBLIC;
