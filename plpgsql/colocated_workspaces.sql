-- real_estate.colocated_workspaces(p_relid): the workspaces whose counters a TRUNCATE of
-- p_relid (a property table) must zero: NULL for a plain table (every counter), '{}' for a
-- Citus shell table, the co-located project shard's workspaces for a Citus shard. Read-only.
CREATE OR REPLACE FUNCTION real_estate.colocated_workspaces(p_relid regclass)
RETURNS uuid[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_is_citus_table boolean;
    v_shard_id bigint;
    v_project_shard regclass;
    v_ids uuid[];
BEGIN
    IF to_regclass('pg_catalog.pg_dist_shard') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE $sql$SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)$sql$
       INTO v_is_citus_table USING p_relid;
    IF v_is_citus_table THEN
        RETURN '{}'::uuid[];
    END IF;
    v_shard_id := (regexp_match((SELECT c.relname::text FROM pg_class AS c WHERE c.oid = p_relid),
                                '_([0-9]+)$'))[1]::bigint;
    IF v_shard_id IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE $sql$
        SELECT pg_catalog.format('real_estate.%I', 'project_' || t.shardid)::regclass
          FROM pg_catalog.pg_dist_shard AS s
          JOIN pg_catalog.pg_dist_shard AS t
            ON t.logicalrelid = 'real_estate.project'::regclass AND t.shardminvalue = s.shardminvalue
         WHERE s.shardid = $1
    $sql$ INTO v_project_shard USING v_shard_id;
    IF v_project_shard IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT coalesce(array_agg(DISTINCT pr.workspace_id), ''{}''::uuid[]) FROM %s AS pr',
                   v_project_shard)
       INTO v_ids;
    RETURN v_ids;
END;
$function$;

COMMENT ON FUNCTION real_estate.colocated_workspaces(regclass) IS 'For the counter trigger''s TRUNCATE branch, which has no row to route by: the workspaces whose counters a TRUNCATE of relation p_relid (a real_estate.property) must zero. NULL: p_relid is a plain table (a single node, or no Citus), every project''s counter. ''{}'': p_relid is a Citus distributed table''s shell (the coordinator), nothing there, the trigger on each shard does it. ids: p_relid is a Citus shard (the trigger firing on a worker), the workspaces of the co-located project shard, whose counters the trigger then zeroes through a query on those workspaces that Citus runs on that shard, locally. Read-only; reads Citus''s metadata (synced to every worker) only when Citus is there.';

REVOKE ALL ON FUNCTION real_estate.colocated_workspaces(regclass) FROM PUBLIC;
