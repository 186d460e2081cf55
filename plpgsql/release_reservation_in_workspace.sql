-- real_estate.release_reservation_in_workspace(p_workspace_id, p_property_id):
-- real_estate.release_reservation for a caller who knows the property's workspace (false
-- also when the property is not in that workspace). Every statement names the workspace,
-- so once the tables are distributed (Citus) the release is routed to the one worker that
-- holds it; the run row is written on the coordinator.
CREATE OR REPLACE FUNCTION real_estate.release_reservation_in_workspace(p_workspace_id uuid, p_property_id uuid)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_run_id bigint;
    v_released integer;
BEGIN
    IF p_workspace_id IS NULL OR p_property_id IS NULL THEN
        RAISE EXCEPTION 'workspace id and property id must not be NULL' USING ERRCODE = 'RE010';
    END IF;

    PERFORM 1
       FROM real_estate.property AS p
      WHERE p.workspace_id = p_workspace_id
        AND p.id = p_property_id
        AND p.status = 'RESERVED'
        AND p.reserved_until <= now()
        AND EXISTS (SELECT 1
                      FROM real_estate.workspace AS w
                     WHERE w.id = p_workspace_id
                       AND w.activation_status = 'ACTIVE')
        FOR UPDATE OF p;
    IF NOT FOUND THEN
        RETURN false;
    END IF;

    v_run_id := real_estate.begin_release_run('call');
    v_released := real_estate.release_workspace_rows(ARRAY[p_workspace_id], v_run_id, ARRAY[p_property_id]);
    PERFORM real_estate.record_release_run(v_run_id, v_released, 0, NULL, true);
    RETURN v_released = 1;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.release_reservation_in_workspace(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.release_reservation_in_workspace(uuid, uuid) TO real_estate_app;
