-- real_estate.cancel_reservation(p_property_id, p_reserved_by_id): the holder gives the
-- property back, whether the reservation has expired or not. Returns true when it did, false
-- when the property is unknown, not reserved, or reserved by another holder (RE010 when an
-- argument is NULL). A cancellation is logged like a release: one release_event with reason
-- 'cancelled' (the previous holder and expiry kept), in a release_run of its own (source
-- 'call'), and notified at commit like every release event.
-- Concurrency: the property row is locked FOR UPDATE (waiting for a transaction that holds
-- it) and the holder is checked under the lock, so against a concurrent release, sale or
-- second cancellation exactly one wins and the reservation is logged once. Any workspace:
-- giving a reservation back is never refused. Idempotent: a second call returns false.
CREATE OR REPLACE FUNCTION real_estate.cancel_reservation(
    p_property_id uuid,
    p_reserved_by_id uuid
)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_workspace_id uuid;
    v_project_id uuid;
    v_reserved_until timestamptz;
    v_run_id bigint;
BEGIN
    IF p_property_id IS NULL OR p_reserved_by_id IS NULL THEN
        RAISE EXCEPTION 'property id and reserved_by id must not be NULL'
            USING ERRCODE = 'RE010';
    END IF;

    SELECT p.workspace_id, p.project_id, p.reserved_until
      INTO v_workspace_id, v_project_id, v_reserved_until
      FROM real_estate.property AS p
     WHERE p.id = p_property_id
       AND p.status = 'RESERVED'
       AND p.reserved_by_id = p_reserved_by_id
       FOR UPDATE OF p;
    IF NOT FOUND THEN
        RETURN false;
    END IF;

    UPDATE real_estate.property AS p
       SET status = 'AVAILABLE', reserved_by_id = NULL, reserved_until = NULL
     WHERE p.id = p_property_id;

    INSERT INTO real_estate.release_run (source, started_at, finished_at, released)
    VALUES ('call', clock_timestamp(), clock_timestamp(), 1)
    RETURNING id INTO v_run_id;
    INSERT INTO real_estate.release_event
        (run_id, property_id, workspace_id, project_id, reserved_by_id, reserved_until, released_at, reason)
    VALUES (v_run_id, p_property_id, v_workspace_id, v_project_id, p_reserved_by_id, v_reserved_until, now(), 'cancelled');
    RETURN true;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.cancel_reservation(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.cancel_reservation(uuid, uuid) TO real_estate_app;
