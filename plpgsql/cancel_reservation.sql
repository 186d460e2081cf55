-- real_estate.cancel_reservation(p_property_id, p_reserved_by_id): the holder gives the
-- property back, expired or not, in any workspace (real_estate.end_reservation): true when
-- it did, logged as 'cancelled'. Waits for the row lock: logged once. Idempotent.
CREATE OR REPLACE FUNCTION real_estate.cancel_reservation(p_property_id uuid, p_reserved_by_id uuid)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    RETURN real_estate.end_reservation(NULL, p_property_id, real_estate.not_null(p_reserved_by_id, 'reserved_by id'));
END;
$function$;

COMMENT ON FUNCTION real_estate.cancel_reservation(uuid, uuid) IS 'The holder gives the property back, whether the reservation has expired or not, in any workspace (giving back is never refused). Returns true when it did, false when the property is unknown, not reserved, or reserved by another holder (RE010 when an argument is NULL). Logged like a release: one release_event with reason ''cancelled'' (the previous holder and expiry kept), in a release_run of its own (source ''call''), and notified at commit like every release event. The row is locked FOR UPDATE (waiting for a transaction that holds it) and the holder checked under the lock, so against a concurrent release, sale or second cancellation exactly one wins and the reservation is logged once. Idempotent: a second call returns false. On Citus the workspace is looked up on every shard, then the cancellation runs on its worker.';

REVOKE ALL ON FUNCTION real_estate.cancel_reservation(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.cancel_reservation(uuid, uuid) TO real_estate_app;
