-- real_estate.release_batch(...): one batch of the release. Takes the (at most
-- p_batch_size) oldest expired reservations of ACTIVE workspaces through the partial index
-- real_estate.property_reserved_until_idx, locks their projects' counter rows in id order
-- with SKIP LOCKED, then releases those rows (locked FOR UPDATE SKIP LOCKED) whose project
-- it holds. So a batch never waits on a row another transaction holds (a property, or a
-- project whose counter an application transaction is changing): such rows are left for the
-- next run, and concurrent runs can neither block nor deadlock each other.
-- The batch is released in one statement; if that fails (a host trigger or constraint
-- raises), it is retried row by row and each failing row is counted in failed and named in
-- error while the others are released (a serialization failure or deadlock is not a row's
-- failure: it is raised, for the caller to retry). Rows taken but not released (failed, busy, or
-- skipped by a host trigger) come back in skipped_ids: callers pass them in p_skip_ids so
-- the run does not take them again. The run row is created on the first batch that has
-- something to release when p_run_id is NULL, so a call that finds nothing writes nothing.
-- picked counts the rows this batch took: fewer than p_batch_size means the run is done.
-- Batches go oldest first and resume at p_after, so that a batch does not walk again over
-- the index entries of every row released before it (dead, but not removable before
-- VACUUM). In one transaction a caller resumes at last_reserved_until (the entries cannot
-- be marked dead before commit anyway); a caller that commits per batch resumes at
-- first_reserved_until, so each batch walks once over the previous batch's entries, now
-- committed, and marks them dead in the index: the next run does not visit them again.
CREATE OR REPLACE FUNCTION real_estate.release_batch(
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
             WHERE p.status = 'RESERVED'
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
             WHERE pr.id = ANY (v_project_of)
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
            released := real_estate.release_rows(run_id, v_ready, v_locked);
        EXCEPTION
            WHEN serialization_failure OR deadlock_detected THEN
                RAISE;  -- the caller's transaction must retry: not a failure of a row
            WHEN OTHERS THEN
                FOREACH v_id IN ARRAY v_ready LOOP
                    BEGIN
                        released := released + real_estate.release_rows(run_id, ARRAY[v_id], v_locked);
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
                              WHERE p.id = ANY (v_ids)
                                AND p.status = 'RESERVED');
    END IF;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.release_batch(text, integer, bigint, uuid[], timestamptz) FROM PUBLIC;
