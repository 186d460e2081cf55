-- real_estate.is_distributed(): true when real_estate.property is a Citus distributed table
-- (after `pyrelease distribute`), false on a single node or without Citus. The routines
-- that must run differently on a Citus coordinator (the release, the reservation by
-- property id alone) branch on it; it reads Citus's metadata only when Citus is installed.
CREATE OR REPLACE FUNCTION real_estate.is_distributed()
RETURNS boolean
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_distributed boolean;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE $sql$SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
                                 WHERE logicalrelid = 'real_estate.property'::regclass)$sql$
       INTO v_distributed;
    RETURN v_distributed;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.is_distributed() FROM PUBLIC;
