-- real_estate.extend_reservation(p_property_id, p_reserved_by_id, p_ttl): the holder of an
-- unexpired reservation moves its expiry to now() + p_ttl and gets it back. Decided under the
-- row lock (real_estate.lock_property): against the release exactly one wins; an expired
-- reservation is never revived. Idempotent in effect (the expiry is now() + p_ttl again).
CREATE OR REPLACE FUNCTION real_estate.extend_reservation(
    p_property_id uuid,
    p_reserved_by_id uuid,
    p_ttl interval DEFAULT interval '24 hours'
)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_workspace_id uuid;
    v_reserved_until timestamptz;
BEGIN
    v_reserved_until := real_estate.expiry_after(p_ttl);
    SELECT l.workspace_id INTO v_workspace_id
      FROM real_estate.lock_property(NULL, p_property_id, 'holder',
                                     real_estate.not_null(p_reserved_by_id, 'reserved_by id')) AS l;

    UPDATE real_estate.property AS p
       SET reserved_until = v_reserved_until
     WHERE p.workspace_id = v_workspace_id
       AND p.id = p_property_id;
    RETURN v_reserved_until;
END;
$function$;

COMMENT ON FUNCTION real_estate.extend_reservation(uuid, uuid, interval) IS 'The holder of an unexpired reservation moves its expiry to now() + p_ttl (earlier or later than before) and gets the new reserved_until back. Raises RE001 no such property, RE004 workspace not ACTIVE, RE005 not this holder''s unexpired reservation (the message says which: not reserved, held by another holder, or expired, reserved_until <= now(), the rule the release applies; it ends in the stored reserved_until; an expired reservation is never revived), RE010 a NULL argument or a p_ttl that is not a positive interval. The row is found and locked FOR UPDATE by real_estate.lock_property and checked under the lock, so against the release exactly one wins: an extension that waited on the release finds the property released (RE005), and a release that meets the extension''s lock skips the row. Idempotent in effect: repeating it moves the expiry again to now() + p_ttl. On Citus the workspace is looked up on every shard, then the row is locked and updated on its worker.';

REVOKE ALL ON FUNCTION real_estate.extend_reservation(uuid, uuid, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.extend_reservation(uuid, uuid, interval) TO real_estate_app;
