-- real_estate.reserve_property(p_property_id, p_reserved_by_id, p_ttl): reserves a property
-- for p_ttl, returns the new reserved_until (real_estate.reserve). Of two concurrent
-- reservations exactly one wins; an expired reservation is taken over and logged.
CREATE OR REPLACE FUNCTION real_estate.reserve_property(
    p_property_id uuid,
    p_reserved_by_id uuid,
    p_ttl interval DEFAULT interval '24 hours'
)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    RETURN real_estate.reserve(NULL, p_property_id, p_reserved_by_id, p_ttl);
END;
$function$;

COMMENT ON FUNCTION real_estate.reserve_property(uuid, uuid, interval) IS 'Reserves an AVAILABLE property for p_ttl (default 24 hours) and returns the new reserved_until (now() + p_ttl); a reservation that has expired is taken over atomically (released and logged as an expired release event, then reserved). Raises RE001 no such property, RE002 SOLD, RE003 held by an unexpired reservation (message ends in its reserved_until), RE004 workspace not ACTIVE, RE010 NULL argument or a p_ttl that is not a positive interval. The row is locked FOR UPDATE: of two concurrent reservations exactly one wins, the other gets RE003. On Citus the workspace is looked up on every shard first; reserve_property_in_workspace skips that.';

REVOKE ALL ON FUNCTION real_estate.reserve_property(uuid, uuid, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.reserve_property(uuid, uuid, interval) TO real_estate_app;
