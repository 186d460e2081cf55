-- real_estate.release_pick(): the one pick of a release run. Reads the expired reservations
-- (reserved_until <= now()) of ACTIVE workspaces through the partial index
-- real_estate.property_reserved_until_idx and returns them as four parallel arrays (the row
-- versions' ctids, the property ids, their projects and workspaces), ordered by
-- (workspace_id, project_id, ctid): slices of it are the run's batches, so that each batch
-- touches as few workspaces and projects (counter rows) as possible and reads the heap in
-- order. Takes no lock: each batch re-checks its rows under FOR UPDATE SKIP LOCKED
-- (real_estate.release_batch).
-- With p_after, only reservations that expired after p_after are returned (the scheduled
-- run's last pick: those that expired while it ran). Either way the scan walks the whole
-- expired range of the index, and a plain index scan that meets the entries of rows
-- released and committed before it marks them dead in the index: the runs after the
-- scheduled run's last pick do not visit them again.
CREATE OR REPLACE FUNCTION real_estate.release_pick(
    p_after timestamptz DEFAULT NULL,
    OUT picked_at timestamptz,
    OUT ctids tid[],
    OUT ids uuid[],
    OUT project_ids uuid[],
    OUT workspace_ids uuid[]
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- A plain index scan, never a bitmap or sequential one: only a plain index scan marks the
-- entries of rows released (and committed) before it as dead in the index.
SET enable_bitmapscan = off
SET enable_seqscan = off
-- The sort of a large pick stays in memory (50,000 rows: about 4 MB).
SET work_mem = '64MB'
AS $function$
BEGIN
    picked_at := now();
    -- p_after is a filter (IS NOT FALSE), not an index condition: the scan still walks (and
    -- marks dead) the entries before it.
    SELECT coalesce(array_agg(c.row_ctid), '{}'), coalesce(array_agg(c.id), '{}'),
           coalesce(array_agg(c.project_id), '{}'), coalesce(array_agg(c.workspace_id), '{}')
      INTO ctids, ids, project_ids, workspace_ids
      FROM (SELECT p.ctid AS row_ctid, p.id, p.project_id, p.workspace_id
              FROM real_estate.property AS p
              JOIN real_estate.workspace AS w ON w.id = p.workspace_id
             WHERE p.status = 'RESERVED'
               AND p.reserved_until <= now()
               AND w.activation_status = 'ACTIVE'
               AND (p.reserved_until > p_after) IS NOT FALSE
             ORDER BY p.workspace_id, p.project_id, p.ctid) AS c;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.release_pick(timestamptz) FROM PUBLIC;
