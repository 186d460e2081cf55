-- real_estate.release_batch(...): one batch of a release run: a slice of the run's pick
-- (real_estate.release_pick: row versions' ctids, property ids, their projects and
-- workspaces). In ONE statement it locks the batch's projects' counter rows (FOR NO KEY
-- UPDATE SKIP LOCKED), then those of its rows that still hold an expired reservation of an
-- ACTIVE workspace and belong to a locked project (or to none) (FOR UPDATE SKIP LOCKED,
-- found by ctid: no index lookup), releases them, and writes their release_event rows from
-- the UPDATE's RETURNING; the counter trigger then applies one grouped delta per project.
-- So a batch never waits on a row another transaction holds (a property, or a project whose
-- counter an application transaction is changing): such rows are left for the next run, and
-- concurrent runs can neither block nor deadlock each other; expiry, status and workspace
-- are checked under the lock, so a row is released at most once and a row changed meanwhile
-- (sold, re-reserved, moved) is left alone.
-- A picked row that was not released is looked up again by id, once: a row updated after the
-- pick (by anything: its ctid changed) but still expired is released by that second statement.
-- If a statement fails (a host trigger or constraint raises), the rows are retried one by
-- one and each failing row is counted in failed and named in error while the others are
-- released (a serialization failure or deadlock is not a row's failure: it is raised, for
-- the caller to retry). The run row is created by the first batch that has something to
-- release when p_run_id is NULL, so a run that finds nothing writes nothing.
-- The batch before issue 10 took (p_source, p_batch_size, p_run_id, p_skip_ids, p_after).
DROP FUNCTION IF EXISTS real_estate.release_batch(text, integer, bigint, uuid[], timestamptz);

CREATE OR REPLACE FUNCTION real_estate.release_batch(
    p_source text,
    p_run_id bigint,
    p_ctids tid[],
    p_ids uuid[],
    p_project_ids uuid[],
    p_workspace_ids uuid[],
    OUT run_id bigint,
    OUT released integer,
    OUT failed integer,
    OUT error text
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- The batch statement must find its rows by ctid whatever the batch size: a custom plan for a
-- large array could switch to a scan of the whole table.
SET plan_cache_mode = force_generic_plan
AS $function$
DECLARE
    v_count integer;
    v_ctids tid[];
    v_row_projects uuid[];
    v_row_workspaces uuid[];
    v_projects uuid[];
    v_active uuid[];
    v_run_id bigint;
    v_try integer := 1;
    v_message text;
    v_sqlstate text;
BEGIN
    run_id := p_run_id;
    released := 0;
    failed := 0;
    IF coalesce(cardinality(p_ctids), 0) = 0 THEN
        RETURN;
    END IF;
    IF run_id IS NULL THEN
        run_id := real_estate.begin_release_run(p_source);
    END IF;
    v_run_id := run_id;
    v_ctids := p_ctids;
    v_row_projects := p_project_ids;
    v_row_workspaces := p_workspace_ids;

    LOOP
        -- The batch's distinct projects (to lock) and ACTIVE workspaces (few: the pick is
        -- ordered by workspace), as arrays the batch statement filters on.
        v_projects := ARRAY(SELECT DISTINCT u.id FROM unnest(v_row_projects) AS u(id) WHERE u.id IS NOT NULL);
        v_active := ARRAY(SELECT w.id
                            FROM real_estate.workspace AS w
                           WHERE w.id IN (SELECT DISTINCT u.id FROM unnest(v_row_workspaces) AS u(id))
                             AND w.activation_status = 'ACTIVE');
        BEGIN
            WITH locked_project AS (
                SELECT pr.id
                  FROM real_estate.project AS pr
                 WHERE pr.id = ANY (v_projects)
                 ORDER BY pr.id
                   FOR NO KEY UPDATE SKIP LOCKED
            ), target AS (
                SELECT p.ctid AS row_ctid, p.id, p.workspace_id, p.project_id,
                       p.reserved_by_id, p.reserved_until
                  FROM real_estate.property AS p
                 WHERE p.ctid = ANY (v_ctids)
                   AND p.status = 'RESERVED'
                   AND p.reserved_until <= now()
                   AND (p.project_id IS NULL OR p.project_id IN (SELECT l.id FROM locked_project AS l))
                   AND p.workspace_id = ANY (v_active)
                   FOR UPDATE OF p SKIP LOCKED
            ), done AS (
                UPDATE real_estate.property AS p
                   SET status = 'AVAILABLE', reserved_by_id = NULL, reserved_until = NULL
                  FROM target AS t
                 WHERE p.ctid = t.row_ctid  -- the version just locked
                RETURNING t.id, t.workspace_id, t.project_id, t.reserved_by_id, t.reserved_until
            )
            INSERT INTO real_estate.release_event
                (run_id, property_id, workspace_id, project_id, reserved_by_id, reserved_until, released_at)
            SELECT v_run_id, d.id, d.workspace_id, d.project_id, d.reserved_by_id, d.reserved_until, now()
              FROM done AS d;
            GET DIAGNOSTICS v_count = ROW_COUNT;
            released := released + v_count;
        EXCEPTION
            WHEN serialization_failure OR deadlock_detected THEN
                RAISE;  -- the caller's transaction must retry: not a failure of a row
            WHEN OTHERS THEN
                IF cardinality(v_ctids) = 1 THEN
                    GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE;
                    failed := failed + 1;
                    error := coalesce(error, format('property %s: %s (SQLSTATE %s)',
                        (SELECT p.id FROM real_estate.property AS p WHERE p.ctid = v_ctids[1]),
                        v_message, v_sqlstate));
                    RAISE WARNING 'pyrelease: could not release property %: % (SQLSTATE %)',
                        (SELECT p.id FROM real_estate.property AS p WHERE p.ctid = v_ctids[1]),
                        v_message, v_sqlstate;
                ELSE
                    -- One by one: each row in its own statement (and subtransaction).
                    DECLARE
                        v_one record;
                        v_res record;
                    BEGIN
                        FOR v_one IN SELECT * FROM unnest(v_ctids, v_row_projects, v_row_workspaces) AS u(c, pr, ws) LOOP
                            SELECT * INTO v_res
                              FROM real_estate.release_batch(p_source, v_run_id, ARRAY[v_one.c],
                                   NULL, ARRAY[v_one.pr], ARRAY[v_one.ws]) AS b;
                            released := released + v_res.released;
                            failed := failed + v_res.failed;
                            error := coalesce(error, v_res.error);
                        END LOOP;
                    END;
                END IF;
                EXIT;
        END;

        EXIT WHEN v_try = 2 OR released + failed >= cardinality(p_ctids) OR p_ids IS NULL;
        -- Picked but not released: held elsewhere, no longer expired, or changed after the
        -- pick (a new row version, at a new ctid). Those still expired are tried once more,
        -- at their current version.
        v_try := 2;
        SELECT array_agg(p.ctid), array_agg(p.project_id), array_agg(p.workspace_id)
          INTO v_ctids, v_row_projects, v_row_workspaces
          FROM real_estate.property AS p
         WHERE p.id = ANY (p_ids)
           AND p.status = 'RESERVED'
           AND p.reserved_until <= now();
        EXIT WHEN v_ctids IS NULL;
    END LOOP;

    IF p_run_id IS NULL AND released = 0 AND failed = 0 THEN
        -- Every row was held elsewhere: this batch did nothing, so it leaves no run behind.
        DELETE FROM real_estate.release_run AS r WHERE r.id = run_id;
        run_id := NULL;
    END IF;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.release_batch(text, bigint, tid[], uuid[], uuid[], uuid[]) FROM PUBLIC;
