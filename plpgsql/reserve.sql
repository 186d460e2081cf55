-- real_estate.reserve(p_workspace_id, p_property_id, p_reserved_by_id, p_ttl): the body of
-- reserve_property and reserve_property_in_workspace (p_workspace_id NULL: looked up).
-- Reserves an AVAILABLE property, or takes over an expired reservation (released and logged
-- first), under the row lock: of two concurrent reservations exactly one wins.
CREATE OR REPLACE FUNCTION real_estate.reserve(
    p_workspace_id uuid,
    p_property_id uuid,
    p_reserved_by_id uuid,
    p_ttl interval
)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_row record;
    v_reserved_until timestamptz;
BEGIN
    PERFORM real_estate.not_null(p_reserved_by_id, 'reserved_by id');
    v_reserved_until := real_estate.expiry_after(p_ttl);
    SELECT * INTO v_row FROM real_estate.lock_property(p_workspace_id, p_property_id, 'active') AS l;

    IF v_row.status = 'SOLD' THEN
        RAISE EXCEPTION 'property % is sold', p_property_id
            USING ERRCODE = 'RE002';
    ELSIF v_row.status = 'RESERVED' AND v_row.reserved_until > now() THEN
        RAISE EXCEPTION 'property % is reserved until %', p_property_id, v_row.reserved_until
            USING ERRCODE = 'RE003';
    ELSIF v_row.status = 'RESERVED' THEN
        PERFORM real_estate.end_reservation(v_row.workspace_id, p_property_id, NULL);
    END IF;

    UPDATE real_estate.property AS p
       SET status = 'RESERVED', reserved_by_id = p_reserved_by_id, reserved_until = v_reserved_until
     WHERE p.workspace_id = v_row.workspace_id
       AND p.id = p_property_id;
    RETURN v_reserved_until;
END;
$function$;

COMMENT ON FUNCTION real_estate.reserve(uuid, uuid, uuid, interval) IS 'The one body of reserve_property (p_workspace_id NULL: the workspace is looked up) and reserve_property_in_workspace: reserves an AVAILABLE property for p_ttl and returns the new reserved_until (now() + p_ttl); a reservation that has expired is taken over atomically, released and logged first (end_reservation) in the same transaction. The row is found and locked FOR UPDATE by real_estate.lock_property and decided under the lock, so of two concurrent reservations of a property exactly one wins and the other gets RE003. Errors: RE001 no such property (in that workspace), RE002 SOLD, RE003 held by an unexpired reservation (the message ends in its reserved_until), RE004 workspace not ACTIVE, RE010 a NULL id or a p_ttl that is not a positive interval. Every statement names the workspace: on Citus the reservation is a single-worker transaction (a takeover also writes its run row on the coordinator).';

REVOKE ALL ON FUNCTION real_estate.reserve(uuid, uuid, uuid, interval) FROM PUBLIC;
