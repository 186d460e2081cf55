-- real_estate.release_pick(p_after, p_above, p_up_to, p_limit): a pick of a release run: the
-- expired reservations of ACTIVE workspaces, read oldest first along the partial index
-- property_reserved_until_idx (a plain index scan: it marks released rows' entries dead),
-- returned as parallel arrays ordered by shard group, heap window (a whole pick of a large
-- table), workspace, project and row. No lock.
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
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- A plain index scan, never a bitmap or sequential one: only a plain index scan marks the
-- entries of rows released (and committed) before it as dead in the index.
SET enable_bitmapscan = off
SET enable_seqscan = off
-- Nor one that must sort its rows by expiry (the other partial index,
-- property_release_pick_idx, would): the scan reads them in the order of its own index.
SET enable_sort = off
-- The sort of a large pick stays in memory (50,000 rows: about 4 MB).
SET work_mem = '64MB'
-- The sort by shard group cannot be avoided, so its plan carries enable_sort's penalty: no JIT
-- compilation for that cost (it would take longer than the pick itself).
SET jit = off
AS $function$
DECLARE
    v_bounds integer[] := real_estate.shard_bounds();
    v_block bigint := current_setting('block_size')::bigint;
    -- A whole pick's windows: heap pages of an eighth of max_wal_size each (none in a table
    -- smaller than that).
    v_window bigint := pg_size_bytes(current_setting('max_wal_size')) / v_block / 8;
BEGIN
    IF p_limit IS NOT NULL OR p_up_to IS NOT NULL
       OR pg_relation_size('real_estate.property'::regclass) / v_block <= v_window THEN
        v_window := NULL;
    END IF;
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
             ORDER BY width_bucket(uuid_hash(o.workspace_id), v_bounds),
                      CASE WHEN v_window IS NOT NULL THEN floor((o.row_ctid::text::point)[0] / v_window) END,
                      o.workspace_id, o.project_id, o.row_ctid) AS c;
END;
$function$;

COMMENT ON FUNCTION real_estate.release_pick(timestamptz, timestamptz, timestamptz, integer) IS 'A pick of a release run: the expired reservations (reserved_until <= now()) of ACTIVE workspaces, read oldest first through the partial index property_reserved_until_idx, returned as parallel arrays (row versions'' ctids, property ids, projects, workspaces) ordered by shard group (real_estate.shard_bounds(); one group on a single node), workspace, project and row, so that consecutive rows cut into batches touch few workspaces and counter rows and no batch spans two shard groups. A whole pick (no p_limit, no p_up_to: the function''s) of a table larger than an eighth of max_wal_size is first ordered by window of the heap, each that large: a window''s batches revisit its pages (a page holds rows of several projects) close together, before the next checkpoint, after which the next change to each of them would write it in full to the WAL again (at 10M properties with max_wal_size 1GB: a quarter less WAL than the function wrote without windows). p_above (exclusive) and p_up_to bound the expiries read; p_limit stops after that many rows (scanned counts them, those of workspaces that are not ACTIVE included); with p_after only reservations that expired after it are returned (a filter, not a bound: the scan still walks its whole range). The scan is a plain index scan (bitmap, sequential scans and sorts disabled): one that meets the entries of rows released and committed before it marks them dead, so the runs after the scheduled run''s last pick do not visit them. Takes no lock: each batch re-checks its rows under FOR UPDATE SKIP LOCKED.';

REVOKE ALL ON FUNCTION real_estate.release_pick(timestamptz, timestamptz, timestamptz, integer) FROM PUBLIC;
