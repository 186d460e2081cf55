-- real_estate.release_workspace_rows(p_workspace_ids, p_run_id, p_property_ids, p_project_ids):
-- real_estate.release_rows restricted to the workspaces p_workspace_ids, which the caller
-- guarantees hash to one Citus shard group (real_estate.release_shard_groups): every table
-- is filtered on its distribution column, so Citus routes the whole statement to the one
-- worker holding that group (a single-shard, router query: no distributed transaction).
-- Not SECURITY DEFINER (it builds its INSERT as text): only its SECURITY DEFINER callers,
-- running as the owner, call it (PUBLIC cannot). Same promises as release_rows (SKIP LOCKED, expiry checked under the lock, one
-- release_event per released row, counters through the trigger on the shard).
CREATE OR REPLACE FUNCTION real_estate.release_workspace_rows(
    p_workspace_ids uuid[],
    p_run_id bigint,
    p_property_ids uuid[],
    p_project_ids uuid[] DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_released integer;
    v_ids uuid[];
    v_active uuid[];
    v_values text[];
BEGIN
    -- Statements that each name the distribution column, so that each is a router
    -- (single-shard) query on Citus: the ACTIVE workspaces (Citus refuses FOR UPDATE on a
    -- join filtered by a list of keys), a locking SELECT, the events' INSERT, the UPDATE.
    v_active := ARRAY(SELECT w.id
                        FROM real_estate.workspace AS w
                       WHERE w.id = ANY (p_workspace_ids)
                         AND w.activation_status = 'ACTIVE');
    SELECT coalesce(array_agg(p.id), '{}')
      INTO v_ids
      FROM (SELECT p.id
              FROM real_estate.property AS p
             WHERE p.workspace_id = ANY (v_active)
               AND p.id = ANY (p_property_ids)
               AND (p.status = 'RESERVED' AND p.reserved_until <= now()) IS TRUE
               AND (p_project_ids IS NULL OR p.project_id IS NULL OR p.project_id = ANY (p_project_ids)) IS TRUE
               FOR UPDATE OF p SKIP LOCKED) AS p;
    IF cardinality(v_ids) = 0 THEN
        RETURN 0;
    END IF;

    -- The rows are locked and were checked under the lock: they are logged, then released,
    -- as read. The events go in as one multi-row INSERT ... VALUES, which Citus routes to
    -- the one shard (an INSERT ... SELECT would be pulled to the coordinator, because of
    -- the identity column's nextval, and sent with COPY, which always commits in two phases).
    v_values := ARRAY(SELECT format('(%s, %L::uuid, %L::uuid, %L::uuid, %L::uuid, %L::timestamptz, now())',
                                    p_run_id, p.id, p.workspace_id, p.project_id, p.reserved_by_id,
                                    p.reserved_until)
                        FROM real_estate.property AS p
                       WHERE p.workspace_id = ANY (v_active)
                         AND p.id = ANY (v_ids));
    EXECUTE 'INSERT INTO real_estate.release_event (run_id, property_id, workspace_id, project_id,'
            ' reserved_by_id, reserved_until, released_at) VALUES '
            || array_to_string(v_values, ', ');

    UPDATE real_estate.property AS p
       SET status = 'AVAILABLE', reserved_by_id = NULL, reserved_until = NULL
     WHERE p.workspace_id = ANY (v_active)
       AND p.id = ANY (v_ids);
    GET DIAGNOSTICS v_released = ROW_COUNT;
    RETURN v_released;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.release_workspace_rows(uuid[], bigint, uuid[], uuid[]) FROM PUBLIC;
