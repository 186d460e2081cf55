-- real_estate.run_release_job(p_batch_size, p_retention): the scheduled run, what pg_cron
-- executes (CALL real_estate.run_release_job()). Records a 'pg_cron' run and commits it at
-- once (a run killed midway stays visible as unfinished), then releases expired
-- reservations batch by batch, COMMITTING AFTER EACH BATCH so that no row lock on a
-- property or a project counter is held for longer than one batch, then purges log rows
-- older than p_retention.
-- First the pick, ordered by workspace, project and row, which no transaction of the run
-- holds for long: a backlog of at most one slice (4 batches, at most 1,000 rows) is one
-- read of the partial index (real_estate.release_pick); a larger one is read in slices
-- along real_estate.property_release_pick_idx (real_estate.release_pick_chunk), each slice
-- its own short read-only transaction, and released window by window (50 slices), so that
-- the run's memory does not grow with the backlog. The batches are consecutive rows of the
-- pick, each released in one statement (real_estate.release_batch). Then, once they have
-- committed, a last pick over the partial index, in slices cut at a sample of the released
-- rows' expiries (real_estate.release_pick_bounds): it
-- marks the index entries of the rows just released dead (so the next run does not visit
-- them) and releases the reservations that expired while the run went on. Rows the first
-- pick took but could not release (held elsewhere, failing) are the next run's.
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
    v_untils pg_catalog.timestamptz[];
    v_bounds pg_catalog.timestamptz[];
    v_got_ctids pg_catalog.tid[];
    v_got_ids pg_catalog.uuid[];
    v_got_projects pg_catalog.uuid[];
    v_got_workspaces pg_catalog.uuid[];
    v_sample pg_catalog.timestamptz[];
    v_scanned integer;
    v_batch pg_catalog.record;
    v_after pg_catalog.timestamptz;
    v_key_workspace pg_catalog.uuid;
    v_key_until pg_catalog.timestamptz;
    v_key_id pg_catalog.uuid;
    v_run_id bigint;
    v_slice integer;
    v_every integer;
    v_window integer;
    v_phase integer;
    v_n integer;
    v_k integer := 0;
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
                      FROM real_estate.release_pick(v_after, v_bounds[v_k OPERATOR(pg_catalog.-) 1],
                                                    v_bounds[v_k]) AS k;
                END IF;
                COMMIT;
                v_ctids := v_ctids OPERATOR(pg_catalog.||) v_got_ctids;
                v_ids := v_ids OPERATOR(pg_catalog.||) v_got_ids;
                v_projects := v_projects OPERATOR(pg_catalog.||) v_got_projects;
                v_workspaces := v_workspaces OPERATOR(pg_catalog.||) v_got_workspaces;
                IF v_phase OPERATOR(pg_catalog.=) 3 THEN
                    -- The last pick's slices end at the sampled bounds, then past the last.
                    IF v_k OPERATOR(pg_catalog.>) coalesce(pg_catalog.cardinality(v_bounds), 0) THEN
                        v_phase := 4;
                        EXIT;
                    END IF;
                    CONTINUE;
                END IF;
                v_untils := v_untils OPERATOR(pg_catalog.||) v_sample;
                IF v_scanned OPERATOR(pg_catalog.<) v_slice THEN
                    -- The pick is complete. The last pick's slices: about v_slice rows each.
                    v_bounds := real_estate.release_pick_bounds(v_untils,
                                                                v_slice OPERATOR(pg_catalog./) v_every);
                    v_phase := 3;
                    EXIT;
                END IF;
                -- A full window is released before the pick goes on (the arrays stay small).
                EXIT WHEN pg_catalog.cardinality(v_ctids) OPERATOR(pg_catalog.>=) v_window;
            END LOOP;
        END IF;
        v_n := pg_catalog.cardinality(v_ctids);
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
