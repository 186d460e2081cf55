-- real_estate.shard_bounds(): the lowest hash of each shard of real_estate.property, in order
-- ('{}' on a single node). A row's shard group is width_bucket(uuid_hash(workspace_id), these):
-- 0 for every row on a single node. Read-only.
DROP FUNCTION IF EXISTS real_estate.is_distributed();

CREATE OR REPLACE FUNCTION real_estate.shard_bounds()
RETURNS integer[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF to_regclass('pg_catalog.pg_dist_shard') IS NULL THEN
        RETURN '{}'::integer[];
    END IF;
    -- Citus's catalog, read only where it exists (a statement is planned when first run).
    RETURN ARRAY(SELECT s.shardminvalue::integer
                   FROM pg_catalog.pg_dist_shard AS s
                  WHERE s.logicalrelid = 'real_estate.property'::regclass
                  ORDER BY 1);
END;
$function$;

COMMENT ON FUNCTION real_estate.shard_bounds() IS 'The lowest hash value of each shard of real_estate.property once it is a Citus distributed table (pyrelease distribute), ascending; an empty array on a single node or without Citus. The release groups its rows by width_bucket(uuid_hash(workspace_id), shard_bounds()), the shard group the row lives in (Citus hashes a uuid distribution column with uuid_hash): 0 for every row on a single node, so a batch never spans two shard groups. Read-only; reads Citus''s metadata only when Citus is installed.';

REVOKE ALL ON FUNCTION real_estate.shard_bounds() FROM PUBLIC;
