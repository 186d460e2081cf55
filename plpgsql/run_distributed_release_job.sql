-- real_estate.run_distributed_release_job(p_batch_size, p_retention): what
-- real_estate.run_release_job (the pg_cron job) runs once the tables are distributed
-- (Citus), on the coordinator. Records a 'pg_cron' run and commits it, then takes the shard
-- groups that hold expired reservations (real_estate.release_shard_groups) one after
-- another and releases each in batches (real_estate.release_workspace_batch), COMMITTING
-- AFTER EVERY BATCH: each batch's statements are routed to the one worker that holds its
-- shard group, so every transaction writes on one worker only (no two-phase commit) and
-- no lock is held longer than one batch. Then purges log rows older than p_retention.
-- Same promises as run_release_job (SKIP LOCKED, never waits on rows held elsewhere,
-- overlapping runs share the work, each shard group going to one run at a time: start K
-- runs to release K shard groups in parallel). Reservations that expire in a workspace
-- not yet in the run's list while it runs are left for the next run.
-- A procedure that commits can be neither SECURITY DEFINER nor carry a SET clause (see
-- run_release_job): every name is schema-qualified, every operator is pg_catalog's.
CREATE OR REPLACE PROCEDURE real_estate.run_distributed_release_job(
    p_batch_size integer DEFAULT 100,
    p_retention interval DEFAULT interval '30 days'
)
LANGUAGE plpgsql
AS $procedure$
DECLARE
    v_groups pg_catalog.text[];
    v_group pg_catalog.uuid[];
    v_batch pg_catalog.record;
    v_run_id bigint;
    v_skip_ids pg_catalog.uuid[];
    v_after pg_catalog.timestamptz;
    v_key pg_catalog.int4;
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

    v_run_id := real_estate.begin_release_run('pg_cron');
    COMMIT;

    -- The groups, read once (as text: an array of arrays must be rectangular).
    SELECT pg_catalog.array_agg(g::pg_catalog.text) INTO v_groups
      FROM real_estate.release_shard_groups() AS g;
    -- Concurrent runs split the groups: a run takes a group only if no other run holds
    -- it (a session advisory lock per group, kept across this run's commits), so K runs
    -- started together release K shard groups at once, on up to K workers. Locks this
    -- session kept from an earlier run that failed midway are dropped first.
    PERFORM pg_catalog.pg_advisory_unlock(l.classid::pg_catalog.int4, l.objid::pg_catalog.int4)
       FROM pg_catalog.pg_locks AS l
      WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory'
        AND l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
        AND l.objsubid OPERATOR(pg_catalog.=) 2
        AND l.classid OPERATOR(pg_catalog.=) 1920430;
    FOR v_i IN 1 .. coalesce(pg_catalog.array_length(v_groups, 1), 0) LOOP
        v_group := v_groups[v_i]::pg_catalog.uuid[];
        v_key := pg_catalog.hashtext(v_groups[v_i]);
        CONTINUE WHEN NOT pg_catalog.pg_try_advisory_lock(1920430, v_key);
        v_skip_ids := '{}';
        v_after := NULL;
        LOOP
            SELECT * INTO v_batch
              FROM real_estate.release_workspace_batch(v_group, 'pg_cron', p_batch_size, v_run_id,
                                                       v_skip_ids, v_after);
            v_skip_ids := v_skip_ids OPERATOR(pg_catalog.||) v_batch.skipped_ids;
            PERFORM real_estate.record_release_run(v_run_id, v_batch.released, v_batch.failed,
                v_batch.error, false);
            COMMIT;
            EXIT WHEN v_batch.picked OPERATOR(pg_catalog.<) p_batch_size;
            v_after := v_batch.first_reserved_until;
        END LOOP;
        PERFORM pg_catalog.pg_advisory_unlock(1920430, v_key);
    END LOOP;

    PERFORM real_estate.purge_release_log(p_retention);
    PERFORM real_estate.record_release_run(v_run_id, 0, 0, NULL, true);
    COMMIT;
END;
$procedure$;

REVOKE ALL ON PROCEDURE real_estate.run_distributed_release_job(integer, interval) FROM PUBLIC;
