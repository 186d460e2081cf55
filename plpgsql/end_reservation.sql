-- real_estate.end_reservation(p_workspace_id, p_property_id, p_reserved_by_id): the body of
-- release_reservation(_in_workspace) (holder NULL: only an expired reservation of an ACTIVE
-- workspace) and cancel_reservation (that holder's, any expiry, any workspace). Waits for
-- the row lock and decides on the committed row: logged once. Idempotent: true, then false.
CREATE OR REPLACE FUNCTION real_estate.end_reservation(
    p_workspace_id uuid,
    p_property_id uuid,
    p_reserved_by_id uuid
)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_row record;
    v_reason text := CASE WHEN p_reserved_by_id IS NULL THEN 'expired' ELSE 'cancelled' END;
    v_run_id bigint;
    v_released integer;
BEGIN
    SELECT * INTO v_row FROM real_estate.lock_property(p_workspace_id, p_property_id) AS l;
    IF v_row.status IS DISTINCT FROM 'RESERVED'
       OR (v_reason = 'cancelled' AND v_row.reserved_by_id <> p_reserved_by_id)
       OR (v_reason = 'expired' AND (v_row.reserved_until > now() OR v_row.activation_status <> 'ACTIVE')) THEN
        RETURN false;
    END IF;

    v_run_id := real_estate.begin_release_run('call');
    v_released := real_estate.release_rows(v_run_id, v_reason, ARRAY[v_row.workspace_id], ARRAY[v_row.row_ctid]);
    PERFORM real_estate.record_release_run(v_run_id, v_released, 0, NULL, true);
    RETURN v_released = 1;
END;
$function$;

COMMENT ON FUNCTION real_estate.end_reservation(uuid, uuid, uuid) IS 'The one body that ends a single reservation now: with p_reserved_by_id NULL (release_reservation, release_reservation_in_workspace, a takeover in reserve_property) it releases the property''s reservation if it has expired (reserved_until <= now()) in an ACTIVE workspace, logged as reason ''expired''; with p_reserved_by_id (cancel_reservation) it gives back that holder''s reservation whatever its expiry and workspace, logged as ''cancelled''. Returns true when it did, false otherwise (unknown property, not reserved, another holder, not expired, workspace not ACTIVE; RE010 when p_property_id is NULL). The row is found and locked by real_estate.lock_property, waiting for a transaction that holds it, and decided on the committed row, so against a concurrent release, sale or second call exactly one wins and the reservation is logged once (release_rows, in a ''call'' run of its own, finished at once). Idempotent: a second call returns false.';

REVOKE ALL ON FUNCTION real_estate.end_reservation(uuid, uuid, uuid) FROM PUBLIC;
