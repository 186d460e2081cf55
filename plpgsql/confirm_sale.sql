-- real_estate.confirm_sale(p_property_id, p_reserved_by_id): the holder's unexpired
-- reservation becomes SOLD, atomically. Decided under the row lock
-- (real_estate.lock_property): against the release exactly one of sale and release wins.
-- Not idempotent: a second call raises RE005 (it is SOLD).
CREATE OR REPLACE FUNCTION real_estate.confirm_sale(p_property_id uuid, p_reserved_by_id uuid)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_workspace_id uuid;
BEGIN
    SELECT l.workspace_id INTO v_workspace_id
      FROM real_estate.lock_property(NULL, p_property_id, 'holder',
                                     real_estate.not_null(p_reserved_by_id, 'reserved_by id')) AS l;

    UPDATE real_estate.property AS p
       SET status = 'SOLD', reserved_by_id = NULL, reserved_until = NULL
     WHERE p.workspace_id = v_workspace_id
       AND p.id = p_property_id;
END;
$function$;

COMMENT ON FUNCTION real_estate.confirm_sale(uuid, uuid) IS 'The holder''s unexpired reservation becomes SOLD (holder and expiry cleared), atomically. Raises RE001 no such property, RE004 workspace not ACTIVE, RE005 not this holder''s unexpired reservation (not reserved, which includes already SOLD; reserved by another holder; or expired, reserved_until <= now(), the rule the release applies; the message ends in the stored reserved_until), RE010 a NULL argument. Against the release exactly one of sale and release wins: the row is found and locked FOR UPDATE by real_estate.lock_property and decided under the lock; a sale that waited on the release finds the property AVAILABLE (RE005, nothing sold); a release that meets the sale''s lock skips the row (SKIP LOCKED) and the next run leaves the SOLD row alone (tests/isolation/specs/confirm_sale_vs_release.spec). now() is the transaction''s start, as everywhere: a sale in a transaction begun before the expiry still counts as before it, if the release has not released it meanwhile. Not idempotent: a second call raises RE005 (it is SOLD). On Citus the workspace is looked up on every shard, then the row is locked and updated on its worker.';

REVOKE ALL ON FUNCTION real_estate.confirm_sale(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.confirm_sale(uuid, uuid) TO real_estate_app;
