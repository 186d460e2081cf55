-- real_estate.reserve_property_in_workspace(p_workspace_id, p_property_id, p_reserved_by_id,
-- p_ttl): real_estate.reserve_property for a caller who knows the property's workspace.
-- Same result, errors and concurrency (RE001 also when the property is not in that
-- workspace). Every statement names the workspace, the distribution column once the tables
-- are distributed (Citus): the reservation is then a single-shard transaction on the one
-- worker that holds the workspace (a takeover of an expired reservation also writes its
-- run row on the coordinator). On a single node it costs what reserve_property costs.
CREATE OR REPLACE FUNCTION real_estate.reserve_property_in_workspace(
    p_workspace_id uuid,
    p_property_id uuid,
    p_reserved_by_id uuid,
    p_ttl interval DEFAULT interval '24 hours'
)
RETURNS timestamptz
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_status text;
    v_reserved_until timestamptz;
    v_activation_status text;
    v_new_reserved_until timestamptz;
BEGIN
    IF p_workspace_id IS NULL OR p_property_id IS NULL OR p_reserved_by_id IS NULL THEN
        RAISE EXCEPTION 'workspace id, property id and reserved_by id must not be NULL'
            USING ERRCODE = 'RE010';
    END IF;
    -- Compared as a point in time: interval comparison counts a month as 30 days, so
    -- '-1 year 360 days' would pass a "p_ttl > 0" test yet end in the past.
    v_new_reserved_until := now() + p_ttl;
    IF v_new_reserved_until IS NULL OR v_new_reserved_until <= now() THEN
        RAISE EXCEPTION 'reservation ttl must be a positive interval, got %', coalesce(p_ttl::text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;

    SELECT p.status, p.reserved_until, w.activation_status
      INTO v_status, v_reserved_until, v_activation_status
      FROM real_estate.property AS p
      JOIN real_estate.workspace AS w ON w.id = p.workspace_id
     WHERE p.workspace_id = p_workspace_id
       AND p.id = p_property_id
       FOR UPDATE OF p;

    IF NOT FOUND THEN
        RAISE EXCEPTION 'property % does not exist in workspace %', p_property_id, p_workspace_id
            USING ERRCODE = 'RE001';
    ELSIF v_activation_status <> 'ACTIVE' THEN
        RAISE EXCEPTION 'property % belongs to a % workspace', p_property_id, v_activation_status
            USING ERRCODE = 'RE004';
    ELSIF v_status = 'SOLD' THEN
        RAISE EXCEPTION 'property % is sold', p_property_id
            USING ERRCODE = 'RE002';
    ELSIF v_status = 'RESERVED' AND v_reserved_until > now() THEN
        RAISE EXCEPTION 'property % is reserved until %', p_property_id, v_reserved_until
            USING ERRCODE = 'RE003';
    ELSIF v_status = 'RESERVED' THEN
        PERFORM real_estate.release_reservation_in_workspace(p_workspace_id, p_property_id);
    END IF;

    UPDATE real_estate.property AS p
       SET status = 'RESERVED', reserved_by_id = p_reserved_by_id, reserved_until = v_new_reserved_until
     WHERE p.workspace_id = p_workspace_id
       AND p.id = p_property_id;
    RETURN v_new_reserved_until;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.reserve_property_in_workspace(uuid, uuid, uuid, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.reserve_property_in_workspace(uuid, uuid, uuid, interval) TO real_estate_app;
