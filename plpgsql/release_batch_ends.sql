-- real_estate.release_batch_ends(p_workspace_ids, p_batch_size, p_bounds): where a pick is cut
-- into batches: the position of each batch's last row. A batch is at most p_batch_size
-- consecutive rows of one shard group (p_bounds: real_estate.shard_bounds()). Immutable.
CREATE OR REPLACE FUNCTION real_estate.release_batch_ends(
    p_workspace_ids uuid[],
    p_batch_size integer,
    p_bounds integer[]
)
RETURNS integer[]
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF cardinality(p_bounds) = 0 THEN
        -- A single node: one group, nothing to compute per row.
        RETURN ARRAY(SELECT least(e, cardinality(p_workspace_ids))
                       FROM generate_series(p_batch_size, cardinality(p_workspace_ids) + p_batch_size - 1,
                                            p_batch_size) AS e);
    END IF;
    -- A batch ends every p_batch_size rows of a run of rows of one group, and where the run
    -- ends (the pick orders its rows by group: a run is usually the whole group).
    RETURN ARRAY(
        SELECT c.n::integer
          FROM (SELECT b.n, b.grp, b.next_grp,
                       row_number() OVER (PARTITION BY b.grp, b.run ORDER BY b.n) AS pos
                  FROM (SELECT a.n, a.grp, lead(a.grp) OVER (ORDER BY a.n) AS next_grp,
                               a.n - row_number() OVER (PARTITION BY a.grp ORDER BY a.n) AS run
                          FROM (SELECT u.n, width_bucket(uuid_hash(u.w), p_bounds) AS grp
                                  FROM unnest(p_workspace_ids) WITH ORDINALITY AS u(w, n)) AS a) AS b) AS c
         WHERE c.pos % p_batch_size = 0 OR c.next_grp IS DISTINCT FROM c.grp
         ORDER BY c.n);
END;
$function$;

COMMENT ON FUNCTION real_estate.release_batch_ends(uuid[], integer, integer[]) IS 'Cuts a pick (the workspace of each picked row, in the pick''s order) into batches and returns the position of each batch''s last row, ascending: a batch is at most p_batch_size consecutive rows, all of one shard group (width_bucket(uuid_hash(workspace_id), p_bounds), p_bounds from real_estate.shard_bounds()), so that on Citus every statement of a batch is routed to the one worker that holds its group. On a single node (p_bounds empty) every row is in one group and the ends are every p_batch_size-th row and the last. Immutable, no table read.';

REVOKE ALL ON FUNCTION real_estate.release_batch_ends(uuid[], integer, integer[]) FROM PUBLIC;
