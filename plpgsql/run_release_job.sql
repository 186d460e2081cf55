-- real_estate.run_release_job(p_batch_size, p_retention): the scheduled run (pg_cron). The
-- release of real_estate.release_expired_reservations, COMMITTING AFTER EACH BATCH (no lock
-- held longer than one batch), a large backlog picked in short read-only slices, then a last
-- pick; then purges old log rows. With nothing to release it writes only the one-row
-- heartbeat. Commits: no SECURITY DEFINER, no SET; every name and operator qualified.
DROP PROCEDURE IF EXISTS real_estate.run_distributed_release_job(integer, interval);

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
    v_untils pg_catalog.timestamptz[];
    v_bounds pg_catalog.int4[];
    v_cuts pg_catalog.timestamptz[];
    v_ends pg_catalog.int4[];
    v_got_ctids pg_catalog.tid[];
    v_got_ids pg_catalog.uuid[];
    v_got_projects pg_catalog.uuid[];
    v_got_workspaces pg_catalog.uuid[];
    v_sample pg_catalog.timestamptz[];
    v_scanned integer;
    v_batch pg_catalog.record;
    v_window_rows pg_catalog.record;
    v_after pg_catalog.timestamptz;
    v_key_workspace pg_catalog.uuid;
    v_key_until pg_catalog.timestamptz;
    v_key_id pg_catalog.uuid;
    v_run_id bigint;
    v_started pg_catalog.timestamptz := pg_catalog.clock_timestamp();
    v_slice integer;
    v_every integer;
    v_window integer;
    v_phase integer;
    v_n integer;
    v_k integer := 0;
    v_i integer;
    v_j integer;
BEGIN
    PERFORM real_estate.check_batch_size(p_batch_size);
    PERFORM real_estate.release_cutoff(p_retention);

    v_bounds := real_estate.shard_bounds();
    -- Rows per read-only transaction of a pick (10-20 ms each at 1,000 on a 2-core machine),
    -- the expiries sampled from each (about 100), rows released per window of slices.
    v_slice := least(p_batch_size::pg_catalog.int8 OPERATOR(pg_catalog.*) 4, 1000)::pg_catalog.int4;
    v_every := greatest(v_slice OPERATOR(pg_catalog./) 100, 1);
    v_window := v_slice OPERATOR(pg_catalog.*) 50;

    -- Phase 1: the first pick; 2: a large backlog, window after window of slices; 3: the
    -- last pick; 4: done. Each phase's rows are then released batch by batch.
    v_phase := 1;
    WHILE v_phase OPERATOR(pg_catalog.<) 4 LOOP
        IF v_phase OPERATOR(pg_catalog.=) 1 THEN
            SELECT k.picked_at, k.ctids, k.ids, k.project_ids, k.workspace_ids, k.scanned
              INTO v_after, v_ctids, v_ids, v_projects, v_workspaces, v_n
              FROM real_estate.release_pick(p_limit => v_slice OPERATOR(pg_catalog.+) 1) AS k;
            -- Work to do: the heartbeat says so before the first batch (a long run is in
            -- progress, not missed); the run's row comes with the first release.
            IF v_n OPERATOR(pg_catalog.>) 0 THEN
                PERFORM real_estate.record_release_heartbeat(v_started, false);
            END IF;
            COMMIT;
            -- Nothing to release at all: the steady state stays one scan.
            EXIT WHEN v_n OPERATOR(pg_catalog.=) 0;
            IF v_n OPERATOR(pg_catalog.>) v_slice THEN
                v_phase := 2;  -- a large backlog: read it again, slice by slice
                v_ctids := '{}';
                v_untils := '{}';
            ELSE
                v_phase := 3;
            END IF;
        ELSE
            -- Phases 2 and 3 read slice after slice, each slice its own read-only
            -- transaction, into one window of rows.
            v_ctids := '{}'; v_ids := '{}'; v_projects := '{}'; v_workspaces := '{}';
            LOOP
                IF v_phase OPERATOR(pg_catalog.=) 2 THEN
                    -- The next slice, and the key to resume after.
                    SELECT k.ctids, k.ids, k.project_ids, k.workspace_ids, k.expiry_sample,
                           k.scanned, k.last_workspace_id, k.last_reserved_until, k.last_id
                      INTO v_got_ctids, v_got_ids, v_got_projects, v_got_workspaces, v_sample,
                           v_scanned, v_key_workspace, v_key_until, v_key_id
                      FROM real_estate.release_pick_chunk(v_slice, v_key_workspace, v_key_until,
                                                          v_key_id, v_every) AS k;
                ELSE
                    v_k := v_k OPERATOR(pg_catalog.+) 1;
                    SELECT k.ctids, k.ids, k.project_ids, k.workspace_ids
                      INTO v_got_ctids, v_got_ids, v_got_projects, v_got_workspaces
                      FROM real_estate.release_pick(v_after, v_cuts[v_k OPERATOR(pg_catalog.-) 1],
                                                    v_cuts[v_k]) AS k;
                END IF;
                COMMIT;
                v_ctids := v_ctids OPERATOR(pg_catalog.||) v_got_ctids;
                v_ids := v_ids OPERATOR(pg_catalog.||) v_got_ids;
                v_projects := v_projects OPERATOR(pg_catalog.||) v_got_projects;
                v_workspaces := v_workspaces OPERATOR(pg_catalog.||) v_got_workspaces;
                IF v_phase OPERATOR(pg_catalog.=) 3 THEN
                    -- The last pick's slices end at the sampled bounds, then past the last.
                    IF v_k OPERATOR(pg_catalog.>) coalesce(pg_catalog.cardinality(v_cuts), 0) THEN
                        v_phase := 4;
                        EXIT;
                    END IF;
                    CONTINUE;
                END IF;
                v_untils := v_untils OPERATOR(pg_catalog.||) v_sample;
                IF v_scanned OPERATOR(pg_catalog.<) v_slice THEN
                    -- The pick is complete. The last pick's slices: about v_slice rows each.
                    v_cuts := real_estate.release_pick_bounds(v_untils,
                                                              v_slice OPERATOR(pg_catalog./) v_every);
                    v_phase := 3;
                    EXIT;
                END IF;
                -- A full window is released before the pick goes on (the arrays stay small).
                EXIT WHEN pg_catalog.cardinality(v_ctids) OPERATOR(pg_catalog.>=) v_window;
            END LOOP;
        END IF;
        v_ends := real_estate.release_batch_ends(v_workspaces, p_batch_size, v_bounds);
        -- The window in a record: its arrays flat, so that each batch's slice copies only the
        -- batch (an array variable is expanded, and each slice of it copied it whole).
        SELECT v_ctids AS ctids, v_ids AS ids, v_projects AS project_ids, v_workspaces AS workspace_ids
          INTO v_window_rows;
        v_i := 1;
        FOREACH v_j IN ARRAY v_ends LOOP
            -- Citus: concurrent runs split the shard groups, a batch taking its group for its
            -- transaction; a group another run holds is left to it (or to the next run).
            IF pg_catalog.cardinality(v_bounds) OPERATOR(pg_catalog.=) 0
               OR pg_catalog.pg_try_advisory_xact_lock(1920430,
                      pg_catalog.width_bucket(pg_catalog.uuid_hash(v_workspaces[v_i]), v_bounds)) THEN
                SELECT * INTO v_batch
                  FROM real_estate.release_batch('pg_cron', v_run_id, v_window_rows.ctids[v_i:v_j],
                                                 v_window_rows.ids[v_i:v_j], v_window_rows.project_ids[v_i:v_j],
                                                 v_window_rows.workspace_ids[v_i:v_j]);
                IF v_batch.run_id IS NOT NULL THEN
                    v_run_id := v_batch.run_id;
                    PERFORM real_estate.record_release_run(v_run_id, v_batch.released, v_batch.failed,
                        v_batch.error, false);
                END IF;
            END IF;
            COMMIT;
            v_i := v_j OPERATOR(pg_catalog.+) 1;
        END LOOP;
    END LOOP;

    PERFORM real_estate.purge_release_log(p_retention);
    IF v_run_id IS NOT NULL THEN
        PERFORM real_estate.record_release_run(v_run_id, 0, 0, NULL, true);
    END IF;
    PERFORM real_estate.record_release_heartbeat(v_started, true);
    COMMIT;
END;
$procedure$;

COMMENT ON PROCEDURE real_estate.run_release_job(integer, interval) IS 'What pg_cron runs (CALL real_estate.run_release_job()): the release of release_expired_reservations (same promises: SKIP LOCKED, each reservation released and logged once, failures recorded, never waits on rows or counters held elsewhere, concurrent runs share the work) in batches of p_batch_size (default 250: each batch holds its projects'' counter rows until it commits), COMMITTING AFTER EVERY BATCH, so that no lock is held longer than one batch. Recorded in the one-row heartbeat (real_estate.release_heartbeat, through record_release_heartbeat: when it started, committed before its first batch when there is work to do, and when it finished), and as a pg_cron run in release_run only when a batch released or failed something (the row comes with that batch: a run killed midway after it stays visible, finished_at NULL): a run with nothing to release writes the heartbeat and nothing else, so a schedule in seconds leaves nothing that grows. A backlog of at most one slice (4 batches, at most 1,000 rows) is one pick; a larger one is read in slices of that size along property_release_pick_idx (release_pick_chunk), each its own short read-only transaction, and released window by window (50 slices). Then, once the batches have committed, a last pick over the partial index in slices cut at a sample of the released rows'' expiries: it marks their index entries dead (the next run does not visit them) and releases what expired while the run went on. Rows a pick took but could not release are the next run''s. Batches never span two shard groups; on Citus each commits on one worker, and concurrent runs split the shard groups (a transaction-level advisory lock per group and batch: a group another run is releasing is left to it). Then purges the log rows older than p_retention (purge_release_log; RE010 for a bad batch size or retention, before anything is released). A procedure that commits can be neither SECURITY DEFINER nor carry a SET clause: every name in it is schema-qualified and every operator pg_catalog''s, and the work is done by functions with a pinned search_path.';

REVOKE ALL ON PROCEDURE real_estate.run_release_job(integer, interval) FROM PUBLIC;
