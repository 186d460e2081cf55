-- real_estate.release_pick(p_after, p_above, p_up_to, p_limit): a pick of a release run.
-- Reads the expired reservations (reserved_until <= now()) of ACTIVE workspaces through the
-- partial index real_estate.property_reserved_until_idx, oldest first, and returns them as
-- four parallel arrays (the row versions' ctids, the property ids, their projects and
-- workspaces), ordered by (workspace_id, project_id, ctid): slices of it are the run's
-- batches, so that each batch touches as few workspaces and projects (counter rows) as
-- possible. Takes no lock: each batch re-checks its rows under FOR UPDATE SKIP LOCKED
-- (real_estate.release_batch).
-- p_above and p_up_to bound the expiries read (reserved_until > p_above, <= p_up_to): the
-- range of the index the pick walks. p_limit stops after that many rows (the oldest, those
-- of workspaces that are not ACTIVE included: scanned says how many were read).
-- With p_after, only reservations that expired after p_after are returned (the scheduled
-- run's last pick: those that expired while it ran). p_after is a filter, not a bound: the
-- scan still walks every entry of its range, and a plain index scan that meets the entries
-- of rows released and committed before it marks them dead in the index, so the runs after
-- the scheduled run's last pick do not visit them again.
-- The pick before the scheduled run read its backlog in slices took only (p_after).
DROP FUNCTION IF EXISTS real_estate.release_pick(timestamptz);

CREATE OR REPLACE FUNCTION real_estate.release_pick(
    p_after timestamptz DEFAULT NULL,
    p_above timestamptz DEFAULT NULL,
    p_up_to timestamptz DEFAULT NULL,
    p_limit integer DEFAULT NULL,
    OUT picked_at timestamptz,
    OUT ctids tid[],
    OUT ids uuid[],
    OUT project_ids uuid[],
    OUT workspace_ids uuid[],
    OUT scanned integer
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- A plain index scan, never a bitmap or sequential one: only a plain index scan marks the
-- entries of rows released (and committed) before it as dead in the index.
SET enable_bitmapscan = off
SET enable_seqscan = off
-- Nor one that must sort its rows by expiry (the other partial index,
-- property_release_pick_idx, would): the scan reads them in the order of its own index.
SET enable_sort = off
-- The sort of a large pick stays in memory (50,000 rows: about 4 MB).
SET work_mem = '64MB'
AS $function$
BEGIN
    picked_at := now();
    -- p_after is a filter (IS NOT FALSE), not an index condition: the scan still walks (and
    -- marks dead) the entries before it.
    -- The rows of the range first, from the partial index alone (a subquery with a LIMIT
    -- is planned on its own): joined to workspace first, the planner could read them
    -- workspace by workspace along property_release_pick_idx instead, which marks nothing
    -- dead in this index.
    SELECT coalesce(array_agg(c.row_ctid) FILTER (WHERE c.active), '{}'),
           coalesce(array_agg(c.id) FILTER (WHERE c.active), '{}'),
           coalesce(array_agg(c.project_id) FILTER (WHERE c.active), '{}'),
           coalesce(array_agg(c.workspace_id) FILTER (WHERE c.active), '{}'),
           count(*)::integer
      INTO ctids, ids, project_ids, workspace_ids, scanned
      FROM (SELECT o.*, w.activation_status = 'ACTIVE' AS active
              FROM (SELECT p.ctid AS row_ctid, p.id, p.project_id, p.workspace_id
                      FROM real_estate.property AS p
                     WHERE p.status = 'RESERVED'
                       AND p.reserved_until >= coalesce(p_above, '-infinity'::timestamptz)
                       AND p.reserved_until IS DISTINCT FROM p_above  -- (p_above is exclusive)
                       AND p.reserved_until <= least(coalesce(p_up_to, 'infinity'::timestamptz), now())
                       AND (p.reserved_until > p_after) IS NOT FALSE
                     ORDER BY p.reserved_until  -- the index's order: no sort
                     LIMIT p_limit) AS o
              JOIN real_estate.workspace AS w ON w.id = o.workspace_id
             ORDER BY o.workspace_id, o.project_id, o.row_ctid) AS c;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.release_pick(timestamptz, timestamptz, timestamptz, integer) FROM PUBLIC;
