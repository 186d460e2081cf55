-- real_estate.expiry_after(p_ttl): now() + p_ttl, the expiry of a reservation made or
-- extended now; RE010 unless that lies in the future and no later than now() plus the
-- setting pyrelease.max_ttl (default 1 year). Stable.
CREATE OR REPLACE FUNCTION real_estate.expiry_after(p_ttl interval)
RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_max interval := coalesce(nullif(current_setting('pyrelease.max_ttl', true), ''), '1 year')::interval;
BEGIN
    -- Compared as points in time: interval comparison counts a month as 30 days, so
    -- '-1 year 360 days' would pass a "p_ttl > 0" test yet end in the past.
    IF p_ttl IS NULL OR now() + p_ttl <= now() THEN
        RAISE EXCEPTION 'reservation ttl must be a positive interval, got %', coalesce(p_ttl::text, 'NULL')
            USING ERRCODE = 'RE010';
    ELSIF now() + p_ttl > now() + v_max THEN
        RAISE EXCEPTION 'reservation ttl must be at most % (pyrelease.max_ttl), got %', v_max, p_ttl
            USING ERRCODE = 'RE010';
    END IF;
    RETURN now() + p_ttl;
END;
$function$;

COMMENT ON FUNCTION real_estate.expiry_after(interval) IS 'now() + p_ttl, the reserved_until of a reservation made (reserve_property) or extended (extend_reservation) now: the one TTL check. Raises RE010 (''reservation ttl must be a positive interval, got ...'') unless it lies after now(), and (''reservation ttl must be at most ...'') when it lies after now() plus the setting pyrelease.max_ttl (an interval; 1 year when unset), so that a mistaken TTL never becomes a permanent lock. Change the maximum for a database with ALTER DATABASE ... SET pyrelease.max_ttl = ''2 years'' (or per role, or per session: it guards against mistakes, not against a holder who could as well extend its reservation every year). Compared as points in time: an interval comparison counts a month as 30 days, so ''-1 year 360 days'' would compare positive yet end in the past. Stable, reads nothing but that setting.';

REVOKE ALL ON FUNCTION real_estate.expiry_after(interval) FROM PUBLIC;
