-- real_estate.reserve_property_in_workspace(p_workspace_id, p_property_id, p_reserved_by_id,
-- p_ttl): reserve_property for a caller who names the property's workspace (on Citus a
-- transaction on one worker). Same result, errors and concurrency (real_estate.reserve).
CREATE OR REPLACE FUNCTION real_estate.reserve_property_in_workspace(
    p_workspace_id uuid,
    p_property_id uuid,
    p_reserved_by_id uuid,
    p_ttl interval DEFAULT interval '24 hours'
)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    RETURN real_estate.reserve(real_estate.not_null(p_workspace_id, 'workspace id'), p_property_id,
                               p_reserved_by_id, p_ttl);
END;
$function$;

COMMENT ON FUNCTION real_estate.reserve_property_in_workspace(uuid, uuid, uuid, interval) IS 'reserve_property for a caller who knows the property''s workspace: the same result, errors (RE001 also when the property is not in that workspace, RE010 also for a NULL workspace) and concurrency. Every statement names the workspace, the distribution column once the tables are distributed (Citus): the reservation is then a single-shard transaction on the one worker that holds the workspace (a takeover of an expired reservation also writes its run row on the coordinator). On a single node it costs what reserve_property costs.';

REVOKE ALL ON FUNCTION real_estate.reserve_property_in_workspace(uuid, uuid, uuid, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.reserve_property_in_workspace(uuid, uuid, uuid, interval) TO real_estate_app;
