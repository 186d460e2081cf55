-- real_estate.colocated_shard(p_relid, p_table): the relation of table p_table that holds
-- the rows co-located with relation p_relid, for code that must touch only co-located rows
-- (the counter trigger's TRUNCATE branch, which has no row to route by):
--   p_relid is a plain table (single node, no Citus)        -> p_table itself;
--   p_relid is a Citus shard (a trigger firing on a worker) -> p_table's shard with the
--                                                              same hash range;
--   p_relid is a Citus distributed table's shell (the
--   coordinator, where Citus's own triggers do the work)    -> NULL: nothing to do here.
-- Read-only: looks at Citus's metadata (synced to every worker) only when Citus is there.
CREATE OR REPLACE FUNCTION real_estate.colocated_shard(p_relid regclass, p_table regclass)
RETURNS regclass
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_shard regclass;
    v_is_citus_table boolean;
    v_shard_id bigint;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_shard') IS NULL THEN
        RETURN p_table;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
       INTO v_is_citus_table USING p_relid;
    IF v_is_citus_table THEN
        RETURN NULL;
    END IF;
    v_shard_id := (regexp_match((SELECT c.relname FROM pg_class AS c WHERE c.oid = p_relid),
                                '_([0-9]+)$'))[1]::bigint;
    IF v_shard_id IS NULL THEN
        RETURN p_table;
    END IF;
    EXECUTE 'SELECT pg_catalog.format(''%I.%I'', n.nspname, c.relname || ''_'' || t.shardid)::regclass
               FROM pg_catalog.pg_dist_shard AS s
               JOIN pg_catalog.pg_dist_shard AS t
                 ON t.logicalrelid = $2 AND t.shardminvalue = s.shardminvalue
               JOIN pg_catalog.pg_class AS c ON c.oid = t.logicalrelid
               JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
              WHERE s.shardid = $1'
       INTO v_shard USING v_shard_id, p_table;
    RETURN coalesce(v_shard, p_table);
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.colocated_shard(regclass, regclass) FROM PUBLIC;
