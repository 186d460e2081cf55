-- real_estate.release_reservation_in_workspace(p_workspace_id, p_property_id):
-- release_reservation for a caller who names the property's workspace (on Citus a
-- transaction on one worker, plus the run row on the coordinator). Idempotent.
CREATE OR REPLACE FUNCTION real_estate.release_reservation_in_workspace(p_workspace_id uuid, p_property_id uuid)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    RETURN real_estate.end_reservation(real_estate.not_null(p_workspace_id, 'workspace id'), p_property_id, NULL);
END;
$function$;

COMMENT ON FUNCTION real_estate.release_reservation_in_workspace(uuid, uuid) IS 'release_reservation for a caller who knows the property''s workspace: the same result (false also when the property is not in that workspace; RE010 for a NULL workspace or property id) and concurrency. Every statement names the workspace, so once the tables are distributed (Citus) the release is routed to the one worker that holds it; the run row is written on the coordinator.';

REVOKE ALL ON FUNCTION real_estate.release_reservation_in_workspace(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.release_reservation_in_workspace(uuid, uuid) TO real_estate_app;
