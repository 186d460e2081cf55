-- real_estate.release_pick_chunk(p_limit, p_after_workspace_id, p_after_reserved_until,
-- p_after_id, p_sample_every): one slice of the scheduled run's pick of a large backlog: the
-- next p_limit expired reservations after a key, a range of property_release_pick_idx (a
-- short read of its own), returned like real_estate.release_pick's, with the key to resume
-- after and a sample of their expiries. No lock.
CREATE OR REPLACE FUNCTION real_estate.release_pick_chunk(
    p_limit integer,
    p_after_workspace_id uuid DEFAULT NULL,
    p_after_reserved_until timestamptz DEFAULT NULL,
    p_after_id uuid DEFAULT NULL,
    p_sample_every integer DEFAULT 1,
    OUT ctids tid[],
    OUT ids uuid[],
    OUT project_ids uuid[],
    OUT workspace_ids uuid[],
    OUT expiry_sample timestamptz[],
    OUT scanned integer,
    OUT last_workspace_id uuid,
    OUT last_reserved_until timestamptz,
    OUT last_id uuid
)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- The slice is a range of property_release_pick_idx, read in its order: never a bitmap or
-- sequential scan of every expired row to sort them (the planner's estimate of the expired
-- rows can be far below the backlog).
SET enable_bitmapscan = off
SET enable_seqscan = off
AS $function$
DECLARE
    v_bounds integer[] := real_estate.shard_bounds();
BEGIN
    -- ROW(...) >= ROW(lowest key) takes every row (workspace_id is NOT NULL and so is a
    -- reservation's expiry); after a key, the row of that key itself is left out by id.
    WITH slice AS MATERIALIZED (
        SELECT p.ctid AS row_ctid, p.id, p.project_id, p.workspace_id, p.reserved_until
          FROM real_estate.property AS p
         WHERE p.status = 'RESERVED'
           AND ROW(p.workspace_id, p.reserved_until, p.id)
               >= ROW(coalesce(p_after_workspace_id, '00000000-0000-0000-0000-000000000000'::uuid),
                      coalesce(p_after_reserved_until, '-infinity'::timestamptz),
                      coalesce(p_after_id, '00000000-0000-0000-0000-000000000000'::uuid))
           AND p.reserved_until <= now()
           AND p.id IS DISTINCT FROM p_after_id
         ORDER BY p.workspace_id, p.reserved_until, p.id
         LIMIT p_limit
    )
    SELECT a.ctids, a.ids, a.project_ids, a.workspace_ids, a.expiry_sample,
           (SELECT count(*) FROM slice)::integer, l.workspace_id, l.reserved_until, l.id
      INTO ctids, ids, project_ids, workspace_ids, expiry_sample,
           scanned, last_workspace_id, last_reserved_until, last_id
      FROM (SELECT coalesce(array_agg(c.row_ctid), '{}') AS ctids,
                   coalesce(array_agg(c.id), '{}') AS ids,
                   coalesce(array_agg(c.project_id), '{}') AS project_ids,
                   coalesce(array_agg(c.workspace_id), '{}') AS workspace_ids,
                   coalesce(array_agg(c.reserved_until) FILTER (WHERE c.n % p_sample_every = 0), '{}')
                       AS expiry_sample
              FROM (SELECT s.*, row_number() OVER (ORDER BY width_bucket(uuid_hash(s.workspace_id), v_bounds),
                                                     s.workspace_id, s.project_id, s.row_ctid) AS n
                      FROM slice AS s
                      JOIN real_estate.workspace AS w ON w.id = s.workspace_id
                     WHERE w.activation_status = 'ACTIVE'
                     ORDER BY width_bucket(uuid_hash(s.workspace_id), v_bounds), s.workspace_id,
                              s.project_id, s.row_ctid) AS c) AS a
      LEFT JOIN LATERAL (SELECT s.workspace_id, s.reserved_until, s.id
                           FROM slice AS s
                          ORDER BY s.workspace_id DESC, s.reserved_until DESC, s.id DESC
                          LIMIT 1) AS l ON true;
END;
$function$;

COMMENT ON FUNCTION real_estate.release_pick_chunk(integer, uuid, timestamptz, uuid, integer) IS 'One slice of the scheduled run''s pick of a large backlog: the next p_limit expired reservations (reserved_until <= now()) after the key (workspace_id, reserved_until, id) given (all NULL: from the start), in that order, read as a range of the partial index property_release_pick_idx (not a walk of the whole expired range), so that each slice is a short read-only transaction of its own whatever the backlog. Returns those of ACTIVE workspaces as real_estate.release_pick does (parallel arrays ordered by shard group, workspace, project and row), the expiry of every p_sample_every-th of them (where the run''s last pick is cut), how many rows it read (fewer than p_limit: the pick is complete) and the key of the last one, to resume after. Takes no lock: each batch re-checks its rows under FOR UPDATE SKIP LOCKED.';

REVOKE ALL ON FUNCTION real_estate.release_pick_chunk(integer, uuid, timestamptz, uuid, integer) FROM PUBLIC;
