-- real_estate.release_rows(p_run_id, p_property_ids, p_project_ids): releases those of the
-- given properties that hold an expired reservation (reserved_until <= now()) in an ACTIVE
-- workspace, writes one real_estate.release_event per released row (keeping the previous
-- holder and expiry) and returns how many it released. Rows are locked FOR UPDATE SKIP
-- LOCKED and the expiry is checked under the lock, so a row is never released twice, a row
-- another transaction holds is left alone (callers that must wait lock it first), and a row
-- that changed meanwhile (sold, re-reserved) is not touched. When p_project_ids is given,
-- only rows of those projects (whose counter rows the caller has locked) or of no project
-- are released, so the counter trigger never waits. Counters follow through that trigger.
CREATE OR REPLACE FUNCTION real_estate.release_rows(
    p_run_id bigint,
    p_property_ids uuid[],
    p_project_ids uuid[] DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_released integer;
BEGIN
    WITH target AS (
        SELECT p.ctid AS row_ctid, p.id, p.workspace_id, p.project_id, p.reserved_by_id, p.reserved_until
          FROM unnest(p_property_ids) AS x(id)
          JOIN real_estate.property AS p ON p.id = x.id
         -- Wrapped in IS TRUE so that no index but the primary key can serve them: the
         -- planner otherwise misjudges them and re-scans every expired row of the table.
         WHERE (p.status = 'RESERVED' AND p.reserved_until <= now()) IS TRUE
           AND (p_project_ids IS NULL OR p.project_id IS NULL OR p.project_id = ANY (p_project_ids)) IS TRUE
           AND (SELECT w.activation_status
                  FROM real_estate.workspace AS w
                 WHERE w.id = p.workspace_id) = 'ACTIVE'
           FOR UPDATE OF p SKIP LOCKED
    ), released AS (
        UPDATE real_estate.property AS p
           SET status = 'AVAILABLE', reserved_by_id = NULL, reserved_until = NULL
          FROM target AS t
         WHERE p.ctid = t.row_ctid  -- the version we just locked: no second index lookup
        RETURNING t.id, t.workspace_id, t.project_id, t.reserved_by_id, t.reserved_until
    )
    INSERT INTO real_estate.release_event
        (run_id, property_id, workspace_id, project_id, reserved_by_id, reserved_until, released_at)
    SELECT p_run_id, r.id, r.workspace_id, r.project_id, r.reserved_by_id, r.reserved_until, now()
      FROM released AS r;
    GET DIAGNOSTICS v_released = ROW_COUNT;
    RETURN v_released;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.release_rows(bigint, uuid[], uuid[]) FROM PUBLIC;
