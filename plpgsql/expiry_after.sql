-- real_estate.expiry_after(p_ttl): now() + p_ttl, the expiry of a reservation made or
-- extended now; RE010 unless that lies in the future. Stable.
CREATE OR REPLACE FUNCTION real_estate.expiry_after(p_ttl interval)
RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    -- Compared as a point in time: interval comparison counts a month as 30 days, so
    -- '-1 year 360 days' would pass a "p_ttl > 0" test yet end in the past.
    IF p_ttl IS NULL OR now() + p_ttl <= now() THEN
        RAISE EXCEPTION 'reservation ttl must be a positive interval, got %', coalesce(p_ttl::text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;
    RETURN now() + p_ttl;
END;
$function$;

COMMENT ON FUNCTION real_estate.expiry_after(interval) IS 'now() + p_ttl, the reserved_until of a reservation made (reserve_property) or extended (extend_reservation) now. Raises RE010 (''reservation ttl must be a positive interval, got ...'') unless it lies after now(), compared as a point in time: an interval comparison counts a month as 30 days, so ''-1 year 360 days'' would compare positive yet end in the past. Stable, reads nothing.';

REVOKE ALL ON FUNCTION real_estate.expiry_after(interval) FROM PUBLIC;
