-- real_estate.release_workspace_batch(p_workspace_ids, ...): one batch of the release
-- (real_estate.release_batch, same arguments and results) restricted to the workspaces
-- p_workspace_ids. On Citus the caller passes workspaces of one shard group
-- (real_estate.release_shard_groups), so every statement of the batch names the
-- distribution column and is routed to the one worker that holds the group: a batch never
-- spans two shard groups and its transaction involves a single worker (plus, on the
-- coordinator, the run row). Same promises as release_batch: SKIP LOCKED on properties and
-- counter rows, failures recorded row by row, skipped rows returned for the next batch.
CREATE OR REPLACE FUNCTION real_estate.release_workspace_batch(
    p_workspace_ids uuid[],
    p_source text,
    p_batch_size integer,
    p_run_id bigint,
    p_skip_ids uuid[],
    p_after timestamptz,
    OUT run_id bigint,
    OUT picked integer,
    OUT released integer,
    OUT failed integer,
    OUT skipped_ids uuid[],
    OUT error text,
    OUT first_reserved_until timestamptz,
    OUT last_reserved_until timestamptz
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_ids uuid[];
    v_project_of uuid[];
    v_locked uuid[];
    v_ready uuid[];
    v_id uuid;
    v_message text;
    v_sqlstate text;
BEGIN
    run_id := p_run_id;
    released := 0;
    failed := 0;
    skipped_ids := '{}';

    SELECT coalesce(array_agg(c.id), '{}'), coalesce(array_agg(c.project_id), '{}'),
           min(c.reserved_until), max(c.reserved_until)
      INTO v_ids, v_project_of, first_reserved_until, last_reserved_until
      FROM (SELECT p.id, p.project_id, p.reserved_until
              FROM real_estate.property AS p
             WHERE p.workspace_id = ANY (p_workspace_ids)
               AND p.status = 'RESERVED'
               AND p.reserved_until <= now()
               AND p.reserved_until >= coalesce(p_after, '-infinity')
               AND p.id <> ALL (p_skip_ids)
               AND EXISTS (SELECT 1
                             FROM real_estate.workspace AS w
                            WHERE w.id = p.workspace_id
                              AND w.activation_status = 'ACTIVE')
             ORDER BY p.reserved_until
             LIMIT p_batch_size) AS c;
    picked := cardinality(v_ids);
    IF picked = 0 THEN
        RETURN;
    END IF;

    SELECT coalesce(array_agg(l.id), '{}')
      INTO v_locked
      FROM (SELECT pr.id
              FROM real_estate.project AS pr
             WHERE pr.workspace_id = ANY (p_workspace_ids)
               AND pr.id = ANY (v_project_of)
             ORDER BY pr.id
               FOR NO KEY UPDATE SKIP LOCKED) AS l;
    SELECT coalesce(array_agg(u.id), '{}')
      INTO v_ready
      FROM unnest(v_ids, v_project_of) AS u(id, project_id)
     WHERE u.project_id IS NULL OR u.project_id = ANY (v_locked);

    IF cardinality(v_ready) > 0 THEN
        IF p_run_id IS NULL THEN
            run_id := real_estate.begin_release_run(p_source);
        END IF;
        BEGIN
            released := real_estate.release_workspace_rows(p_workspace_ids, run_id, v_ready, v_locked);
        EXCEPTION
            WHEN serialization_failure OR deadlock_detected THEN
                RAISE;  -- the caller's transaction must retry: not a failure of a row
            WHEN OTHERS THEN
                FOREACH v_id IN ARRAY v_ready LOOP
                    BEGIN
                        released := released + real_estate.release_workspace_rows(p_workspace_ids, run_id, ARRAY[v_id], v_locked);
                    EXCEPTION
                        WHEN serialization_failure OR deadlock_detected THEN
                            RAISE;
                        WHEN OTHERS THEN
                            GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE;
                            failed := failed + 1;
                            error := coalesce(error, format('property %s: %s (SQLSTATE %s)', v_id, v_message, v_sqlstate));
                            RAISE WARNING 'pyrelease: could not release property %: % (SQLSTATE %)', v_id, v_message, v_sqlstate;
                    END;
                END LOOP;
        END;
    END IF;

    IF p_run_id IS NULL AND run_id IS NOT NULL AND released = 0 AND failed = 0 THEN
        -- Every row was held elsewhere: this batch did nothing, so it leaves no run behind.
        DELETE FROM real_estate.release_run AS r WHERE r.id = run_id;
        run_id := NULL;
    END IF;

    IF released < picked THEN
        -- Failed, busy, or silently skipped by a host trigger: left for the next run.
        skipped_ids := ARRAY(SELECT p.id
                               FROM real_estate.property AS p
                              WHERE p.workspace_id = ANY (p_workspace_ids)
                                AND p.id = ANY (v_ids)
                                AND p.status = 'RESERVED');
    END IF;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.release_workspace_batch(uuid[], text, integer, bigint, uuid[], timestamptz) FROM PUBLIC;
