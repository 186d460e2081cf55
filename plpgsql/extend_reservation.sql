-- real_estate.extend_reservation(p_property_id, p_reserved_by_id, p_ttl): the holder of an
-- unexpired reservation moves its expiry to now() + p_ttl (earlier or later than before) and
-- gets the new reserved_until back. Raises, each with its own SQLSTATE:
--   RE001 the property does not exist;  RE004 its workspace is not ACTIVE;
--   RE005 the reservation is not this holder's: the message says which case (not reserved,
--         reserved by another holder, or expired: reserved_until <= now(), the rule the
--         release applies; an expired reservation is never revived);
--   RE010 an argument is NULL or p_ttl is not a positive interval.
-- Concurrency: the property row is locked FOR UPDATE and checked under the lock, so against
-- the release exactly one wins: an extension that waited on the release finds the property
-- released (RE005), and a release that meets the extension's lock skips the row.
-- Idempotent in effect: repeating it moves the expiry again to now() + p_ttl.
CREATE OR REPLACE FUNCTION real_estate.extend_reservation(
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
    v_reserved_by_id uuid;
    v_reserved_until timestamptz;
    v_activation_status text;
    v_new_reserved_until timestamptz;
BEGIN
    IF p_property_id IS NULL OR p_reserved_by_id IS NULL THEN
        RAISE EXCEPTION 'property id and reserved_by id must not be NULL'
            USING ERRCODE = 'RE010';
    END IF;
    -- Compared as a point in time (see reserve_property).
    v_new_reserved_until := now() + p_ttl;
    IF v_new_reserved_until IS NULL OR v_new_reserved_until <= now() THEN
        RAISE EXCEPTION 'reservation ttl must be a positive interval, got %', coalesce(p_ttl::text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;

    SELECT p.status, p.reserved_by_id, p.reserved_until, w.activation_status
      INTO v_status, v_reserved_by_id, v_reserved_until, v_activation_status
      FROM real_estate.property AS p
      JOIN real_estate.workspace AS w ON w.id = p.workspace_id
     WHERE p.id = p_property_id
       FOR UPDATE OF p;

    IF NOT FOUND THEN
        RAISE EXCEPTION 'property % does not exist', p_property_id
            USING ERRCODE = 'RE001';
    ELSIF v_activation_status <> 'ACTIVE' THEN
        RAISE EXCEPTION 'property % belongs to a % workspace', p_property_id, v_activation_status
            USING ERRCODE = 'RE004';
    ELSIF v_status <> 'RESERVED' THEN
        RAISE EXCEPTION 'property % is not reserved (it is %)', p_property_id, v_status
            USING ERRCODE = 'RE005';
    ELSIF v_reserved_by_id <> p_reserved_by_id THEN
        RAISE EXCEPTION 'property % is held by another holder, reserved until %', p_property_id, v_reserved_until
            USING ERRCODE = 'RE005';
    ELSIF v_reserved_until <= now() THEN
        RAISE EXCEPTION 'the reservation of property % has expired, reserved until %', p_property_id, v_reserved_until
            USING ERRCODE = 'RE005';
    END IF;

    UPDATE real_estate.property AS p
       SET reserved_until = v_new_reserved_until
     WHERE p.id = p_property_id;
    RETURN v_new_reserved_until;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.extend_reservation(uuid, uuid, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.extend_reservation(uuid, uuid, interval) TO real_estate_app;
