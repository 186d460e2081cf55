-- real_estate.confirm_sale(p_property_id, p_reserved_by_id): the holder's unexpired
-- reservation becomes SOLD (holder and expiry cleared), atomically. Raises, each with its
-- own SQLSTATE:
--   RE001 the property does not exist;  RE004 its workspace is not ACTIVE;
--   RE005 the reservation is not this holder's: the message says which case (not reserved,
--         which includes already SOLD; reserved by another holder; or expired:
--         reserved_until <= now(), the rule the release applies);
--   RE010 an argument is NULL.
-- Concurrency: against the release exactly one of sale and release wins. The sale locks the
-- row FOR UPDATE and decides under the lock: a sale that waited on the release finds the
-- property AVAILABLE (RE005, nothing sold); a release that meets the sale's lock skips the
-- row (SKIP LOCKED) and the next run leaves the SOLD row alone (tests/isolation/specs/
-- confirm_sale_vs_release.spec). now() is the transaction's start, as everywhere: a sale in a
-- transaction begun before the expiry still counts as before it, if the release has not
-- released it meanwhile. Not idempotent: a second call raises RE005 (it is SOLD).
CREATE OR REPLACE FUNCTION real_estate.confirm_sale(
    p_property_id uuid,
    p_reserved_by_id uuid
)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_status text;
    v_reserved_by_id uuid;
    v_reserved_until timestamptz;
    v_activation_status text;
BEGIN
    IF p_property_id IS NULL OR p_reserved_by_id IS NULL THEN
        RAISE EXCEPTION 'property id and reserved_by id must not be NULL'
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
       SET status = 'SOLD', reserved_by_id = NULL, reserved_until = NULL
     WHERE p.id = p_property_id;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.confirm_sale(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.confirm_sale(uuid, uuid) TO real_estate_app;
