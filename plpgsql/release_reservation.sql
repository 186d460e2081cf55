-- real_estate.release_reservation(p_property_id): the precise single release (what a
-- per-reservation delayed job does), real_estate.end_reservation: true when it released an
-- expired reservation of an ACTIVE workspace. Waits for the row lock. Idempotent.
CREATE OR REPLACE FUNCTION real_estate.release_reservation(p_property_id uuid)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    RETURN real_estate.end_reservation(NULL, p_property_id, NULL);
END;
$function$;

COMMENT ON FUNCTION real_estate.release_reservation(uuid) IS 'The precise single release (what a per-reservation delayed job does): returns true when it released the property''s reservation, false when the property is unknown, not reserved, not yet expired (reserved_until > now()) or its workspace is not ACTIVE (RE010 when p_property_id is NULL). Waits for a row lock held elsewhere, then decides on the row as committed, so a reservation is never released twice and a property sold meanwhile is left alone; the release is logged (one expired release event, in a call run of its own). Idempotent: a second call returns false. On Citus the workspace is looked up on every shard first; release_reservation_in_workspace skips that.';

REVOKE ALL ON FUNCTION real_estate.release_reservation(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.release_reservation(uuid) TO real_estate_app;
