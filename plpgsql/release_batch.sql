-- real_estate.release_batch(...): one batch of the release. Picks at most p_batch_size
-- expired reservations of ACTIVE workspaces, oldest first, through the partial index
-- real_estate.property_reserved_until_idx, with FOR UPDATE SKIP LOCKED: a row that another
-- transaction holds is neither waited on nor released twice; the next run takes it.
-- The batch is released in one statement; if that fails (a host trigger or constraint
-- raises), it is retried row by row and each failing row is reported in failed_ids/error
-- (callers pass them back in p_skip_ids so the run does not pick them again) while the
-- others are released. The run row is created on the first non-empty batch when p_run_id
-- is NULL, so a call that finds nothing to do writes nothing.
-- picked counts the rows this batch locked: fewer than p_batch_size means the run is done.
CREATE OR REPLACE FUNCTION real_estate.release_batch(
    p_source text,
    p_batch_size integer,
    p_run_id bigint,
    p_skip_ids uuid[],
    OUT run_id bigint,
    OUT picked integer,
    OUT released integer,
    OUT failed_ids uuid[],
    OUT error text
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_ids uuid[];
    v_id uuid;
    v_message text;
    v_sqlstate text;
BEGIN
    run_id := p_run_id;
    released := 0;
    failed_ids := '{}';

    SELECT coalesce(array_agg(c.id), '{}')
      INTO v_ids
      FROM (SELECT p.id
              FROM real_estate.property AS p
             WHERE p.status = 'RESERVED'
               AND p.reserved_until <= now()
               AND p.id <> ALL (p_skip_ids)
               AND EXISTS (SELECT 1
                             FROM real_estate.workspace AS w
                            WHERE w.id = p.workspace_id
                              AND w.activation_status = 'ACTIVE')
             ORDER BY p.reserved_until
             LIMIT p_batch_size
               FOR UPDATE OF p SKIP LOCKED) AS c;
    picked := cardinality(v_ids);
    IF picked = 0 THEN
        RETURN;
    END IF;

    IF run_id IS NULL THEN
        run_id := real_estate.begin_release_run(p_source);
    END IF;

    BEGIN
        released := real_estate.release_rows(run_id, v_ids);
    EXCEPTION WHEN OTHERS THEN
        -- Our row locks were taken outside this block and survive its rollback.
        FOREACH v_id IN ARRAY v_ids LOOP
            BEGIN
                released := released + real_estate.release_rows(run_id, ARRAY[v_id]);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE;
                failed_ids := failed_ids || v_id;
                error := coalesce(error, format('property %s: %s (SQLSTATE %s)', v_id, v_message, v_sqlstate));
                RAISE WARNING 'pyrelease: could not release property %: % (SQLSTATE %)', v_id, v_message, v_sqlstate;
            END;
        END LOOP;
    END;
END;
$function$;
