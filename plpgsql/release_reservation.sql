-- real_estate.release_reservation(p_property_id): the precise single release (what a
-- per-reservation delayed job does). Returns true when it released the reservation, false
-- when the property is unknown, not reserved, not yet expired, or its workspace is not
-- ACTIVE (RE010 when p_property_id is NULL). Waits for a row lock held elsewhere, then
-- decides on the row as committed, so a reservation is never released twice and a
-- property sold meanwhile is left alone.
-- Idempotent: a second call returns false.
CREATE OR REPLACE FUNCTION real_estate.release_reservation(p_property_id uuid)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_run_id bigint;
    v_released integer;
    v_workspace_id uuid;
BEGIN
    IF p_property_id IS NULL THEN
        RAISE EXCEPTION 'property id must not be NULL' USING ERRCODE = 'RE010';
    END IF;

    IF real_estate.is_distributed() THEN
        -- Citus: find the workspace (a read on every shard), then release on its worker.
        SELECT p.workspace_id INTO v_workspace_id
          FROM real_estate.property AS p
         WHERE p.id = p_property_id;
        RETURN FOUND AND real_estate.release_reservation_in_workspace(v_workspace_id, p_property_id);
    END IF;

    PERFORM 1
       FROM real_estate.property AS p
      WHERE p.id = p_property_id
        AND p.status = 'RESERVED'
        AND p.reserved_until <= now()
        AND EXISTS (SELECT 1
                      FROM real_estate.workspace AS w
                     WHERE w.id = p.workspace_id
                       AND w.activation_status = 'ACTIVE')
        FOR UPDATE OF p;
    IF NOT FOUND THEN
        RETURN false;
    END IF;

    v_run_id := real_estate.begin_release_run('call');
    v_released := real_estate.release_rows(v_run_id, ARRAY[p_property_id]);
    PERFORM real_estate.record_release_run(v_run_id, v_released, 0, NULL, true);
    RETURN v_released = 1;
END;
$function$;

REVOKE ALL ON FUNCTION real_estate.release_reservation(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.release_reservation(uuid) TO real_estate_app;
