-- real_estate.release_batch(...): one batch of a release run, rows of one shard group taken
-- from its pick, released by real_estate.release_rows (SKIP LOCKED: never waits, a row at
-- most once). A picked row updated since is looked up again by id, once. A failing row is
-- counted and named, the others still released. Opens the run row on its first release.
DROP FUNCTION IF EXISTS real_estate.release_batch(text, integer, bigint, uuid[], timestamptz);
DROP FUNCTION IF EXISTS real_estate.release_workspace_batch(uuid[], text, integer, bigint, uuid[], timestamptz);

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
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- Its statements (and release_rows') find their rows by ctid whatever their number: a custom
-- plan for a large array could switch to a scan of the whole table.
SET plan_cache_mode = force_generic_plan
AS $function$
DECLARE
    v_workspaces uuid[];
    v_active uuid[];
    v_projects uuid[];
    v_ctids tid[];
    v_try integer := 1;
    v_message text;
    v_sqlstate text;
    v_id uuid;
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
    IF cardinality(real_estate.shard_bounds()) > 0 THEN
        -- Citus plans a statement that filters its distribution column on a parameter only
        -- with the parameter's value: custom plans, until this function returns.
        PERFORM set_config('plan_cache_mode', 'force_custom_plan', true);
    END IF;
    -- The batch's workspaces (few: the pick orders its rows by workspace), the ACTIVE ones
    -- among them, and its projects, as the arrays every statement filters on.
    v_workspaces := ARRAY(SELECT DISTINCT u.id FROM unnest(p_workspace_ids) AS u(id));
    v_active := ARRAY(SELECT w.id
                        FROM real_estate.workspace AS w
                       WHERE w.id = ANY (v_workspaces)
                         AND w.activation_status = 'ACTIVE');
    v_projects := ARRAY(SELECT DISTINCT u.id FROM unnest(p_project_ids) AS u(id) WHERE u.id IS NOT NULL);
    v_ctids := p_ctids;

    LOOP
        BEGIN
            released := released + real_estate.release_rows(run_id, 'expired', v_active, v_ctids, v_projects);
        EXCEPTION
            WHEN serialization_failure OR deadlock_detected THEN
                RAISE;  -- the caller's transaction must retry: not a failure of a row
            WHEN OTHERS THEN
                -- One by one, each row in its own statement (and subtransaction).
                FOR v_i IN 1 .. cardinality(v_ctids) LOOP
                    BEGIN
                        released := released
                            + real_estate.release_rows(run_id, 'expired', v_active, ARRAY[v_ctids[v_i]], v_projects);
                    EXCEPTION
                        WHEN serialization_failure OR deadlock_detected THEN
                            RAISE;
                        WHEN OTHERS THEN
                            GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE;
                            SELECT p.id INTO v_id
                              FROM real_estate.property AS p
                             WHERE p.ctid = v_ctids[v_i] AND p.workspace_id = ANY (v_active);
                            failed := failed + 1;
                            error := coalesce(error, format('property %s: %s (SQLSTATE %s)', v_id, v_message, v_sqlstate));
                            RAISE WARNING 'pyrelease: could not release property %: % (SQLSTATE %)',
                                v_id, v_message, v_sqlstate;
                    END;
                END LOOP;
                EXIT;
        END;

        EXIT WHEN v_try = 2 OR released + failed >= cardinality(p_ctids) OR p_ids IS NULL;
        -- Picked but not released: held elsewhere, no longer expired, or changed after the
        -- pick (a new row version, at a new ctid). Those still expired are tried once more,
        -- at their current version (and project).
        v_try := 2;
        SELECT array_agg(p.ctid), array_agg(DISTINCT p.project_id) FILTER (WHERE p.project_id IS NOT NULL)
          INTO v_ctids, v_projects
          FROM real_estate.property AS p
         WHERE p.id = ANY (p_ids)
           AND p.workspace_id = ANY (v_active)
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

COMMENT ON FUNCTION real_estate.release_batch(text, bigint, tid[], uuid[], uuid[], uuid[]) IS 'One batch of a release run: consecutive rows of its pick (their versions'' ctids, ids, projects and workspaces), all of one shard group (real_estate.release_batch_ends). Releases those that still hold an expired reservation of an ACTIVE workspace through real_estate.release_rows, in one statement that locks the batch''s projects'' counter rows and then its rows with SKIP LOCKED: a batch never waits on a row or counter another transaction holds (left for the next run), concurrent runs neither block nor deadlock each other, a row is released at most once and a row changed meanwhile (sold, re-reserved) is left alone. A picked row updated after the pick (a new version) but still expired is looked up again by id, once, in the batch''s workspaces (a row moved to another workspace is the next run''s). If the statement fails (a host trigger or constraint raises), the rows are retried one by one: each failing row is counted in failed and named in error, the others are released; a serialization failure or deadlock is raised for the caller to retry. With p_run_id NULL the run row is created by the first batch that releases something, so a run that finds nothing writes nothing. Every statement names the batch''s workspaces: on Citus the batch runs on one worker and commits there in one phase.';

REVOKE ALL ON FUNCTION real_estate.release_batch(text, bigint, tid[], uuid[], uuid[], uuid[]) FROM PUBLIC;
