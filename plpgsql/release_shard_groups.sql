-- real_estate.release_shard_groups(p_max_workspaces): the ACTIVE workspaces that hold
-- expired reservations now, grouped so that every group lies in one Citus shard group (its
-- workspaces hash to the same shard of real_estate.property, hence of every co-located
-- table), at most p_max_workspaces per group, ordered by shard. The release runs one group
-- at a time (real_estate.release_workspace_batch), so no batch spans two shard groups.
-- On a single node (not distributed) it returns the same workspaces in groups of at most
-- p_max_workspaces. Read-only, no row locks; on Citus one multi-shard read of the partial
-- index real_estate.property_reserved_until_idx on every shard.
CREATE OR REPLACE FUNCTION real_estate.release_shard_groups(p_max_workspaces integer DEFAULT 1000)
RETURNS SETOF uuid[]
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_workspace_ids uuid[];
BEGIN
    IF p_max_workspaces IS NULL OR p_max_workspaces < 1 THEN
        RAISE EXCEPTION 'group size must be a positive integer, got %', coalesce(p_max_workspaces::text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;
    SELECT coalesce(array_agg(x.workspace_id), '{}')
      INTO v_workspace_ids
      FROM (SELECT DISTINCT p.workspace_id
              FROM real_estate.property AS p
             WHERE p.status = 'RESERVED'
               AND p.reserved_until <= now()
               AND EXISTS (SELECT 1
                             FROM real_estate.workspace AS w
                            WHERE w.id = p.workspace_id
                              AND w.activation_status = 'ACTIVE')) AS x;
    IF NOT real_estate.is_distributed() THEN
        RETURN QUERY
            SELECT array_agg(g.w ORDER BY g.w)
              FROM (SELECT u.w, (row_number() OVER (ORDER BY u.w) - 1) / p_max_workspaces AS chunk
                      FROM unnest(v_workspace_ids) AS u(w)) AS g
             GROUP BY g.chunk
             ORDER BY g.chunk;
        RETURN;
    END IF;
    -- Citus's get_shard_id_for_distribution_column, called dynamically: this function
    -- must also be creatable where Citus is not installed.
    RETURN QUERY EXECUTE $sql$
        SELECT array_agg(g.w ORDER BY g.w)
          FROM (SELECT s.w, s.shard_id,
                       (row_number() OVER (PARTITION BY s.shard_id ORDER BY s.w) - 1) / $2 AS chunk
                  FROM (SELECT u.w,
                               pg_catalog.get_shard_id_for_distribution_column(
                                   'real_estate.property'::regclass, u.w) AS shard_id
                          FROM unnest($1) AS u(w)) AS s) AS g
         GROUP BY g.shard_id, g.chunk
         ORDER BY g.shard_id, g.chunk
    $sql$ USING v_workspace_ids, p_max_workspaces;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.release_shard_groups(integer) FROM PUBLIC;
