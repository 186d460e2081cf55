-- real_estate.check_invariants(): one row per broken promise (counter drift, a reservation
-- missing its holder or expiry, an early or a double release), nothing when all hold.
-- Read-only, no lock beyond a normal read.
CREATE OR REPLACE FUNCTION real_estate.check_invariants()
RETURNS TABLE (violation text, object_id text, detail text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT 'counter_drift', pr.id::text,
           format('available_plots = %s, AVAILABLE properties = %s', pr.available_plots, coalesce(c.n, 0))
      FROM real_estate.project AS pr
      LEFT JOIN (SELECT p.project_id, count(*) AS n
                   FROM real_estate.property AS p
                  WHERE p.status = 'AVAILABLE' AND p.project_id IS NOT NULL
                  GROUP BY p.project_id) AS c ON c.project_id = pr.id
     WHERE pr.available_plots <> coalesce(c.n, 0)
    UNION ALL
    SELECT 'reservation_fields', p.id::text,
           format('status %s, reserved_by_id %s, reserved_until %s', p.status,
                  coalesce(p.reserved_by_id::text, 'NULL'), coalesce(p.reserved_until::text, 'NULL'))
      FROM real_estate.property AS p
     WHERE (p.status = 'RESERVED') IS DISTINCT FROM (p.reserved_by_id IS NOT NULL AND p.reserved_until IS NOT NULL)
        OR (p.status <> 'RESERVED' AND (p.reserved_by_id IS NOT NULL OR p.reserved_until IS NOT NULL))
    UNION ALL
    SELECT 'early_release', e.id::text,
           format('property %s reserved until %s released at %s', e.property_id, e.reserved_until, e.released_at)
      FROM real_estate.release_event AS e
     WHERE e.reserved_until > e.released_at AND e.reason = 'expired'
    UNION ALL
    SELECT 'double_release', min(e.id)::text,
           format('property %s (holder %s, until %s) released %s times', e.property_id, e.reserved_by_id, e.reserved_until, count(*))
      FROM real_estate.release_event AS e
     GROUP BY e.property_id, e.reserved_by_id, e.reserved_until
     -- Not when each event has its own run and all were written at one now(): within one
     -- transaction, the property was reserved again with the same expiry in between.
    HAVING count(*) > 1
       AND (count(DISTINCT e.run_id) < count(*) OR count(DISTINCT e.released_at) > 1);
$function$;

COMMENT ON FUNCTION real_estate.check_invariants() IS 'Returns one row (violation, object_id, detail) per violation of what pyrelease promises, and nothing when all hold (monitoring, soak tests): counter_drift, a project''s available_plots differs from its number of AVAILABLE properties; reservation_fields, a RESERVED row without holder or expiry, or a row that is not RESERVED with one; early_release, an expired release event whose reservation had not expired when released (a cancelled one may: its holder gave it back early); double_release, the same reservation (property, holder, expiry) released twice: twice in one run, or at two different times (events written at one now(), each in a run of its own, are the property reserved again for the same holder and expiry within one transaction, since now() does not move there: reserve, cancel, reserve, cancel). Read-only; takes no lock beyond a normal read (run it when writers are quiet for an exact answer). Works on Citus too (it reads every shard).';

REVOKE ALL ON FUNCTION real_estate.check_invariants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.check_invariants() TO real_estate_reader;
