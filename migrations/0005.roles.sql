-- depends: 0004.property-reserved-until-idx
-- pyrelease 0005: least privilege. Two NOLOGIN roles to grant to real users:
--   real_estate_reader  reads the tables and views;
--   real_estate_app     reader + reserve/release functions + the DML an application needs
--                       on workspace/project/property, but never writes available_plots
--                       (the database maintains it) nor the release logs.
-- PUBLIC gets nothing (functions are executable by PUBLIC by default: revoked explicitly).
-- Roles are cluster-wide: they are created if missing and shared by every application
-- database on the server. Also ships real_estate.check_invariants().
SET LOCAL lock_timeout = '10s';

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'real_estate_reader') THEN
        CREATE ROLE real_estate_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'real_estate_app') THEN
        CREATE ROLE real_estate_app NOLOGIN;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION real_estate.check_invariants()
RETURNS TABLE (violation text, object_id text, detail text)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
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
     WHERE e.reserved_until > e.released_at
    UNION ALL
    SELECT 'double_release', min(e.id)::text,
           format('property %s (holder %s, until %s) released %s times', e.property_id, e.reserved_by_id, e.reserved_until, count(*))
      FROM real_estate.release_event AS e
     GROUP BY e.property_id, e.reserved_by_id, e.reserved_until
    HAVING count(*) > 1;
$function$;

REVOKE ALL ON SCHEMA real_estate FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA real_estate FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA real_estate FROM PUBLIC;
REVOKE ALL ON ALL ROUTINES IN SCHEMA real_estate FROM PUBLIC;

GRANT USAGE ON SCHEMA real_estate TO real_estate_reader, real_estate_app;
GRANT SELECT ON real_estate.workspace, real_estate.project, real_estate.property,
                real_estate.release_run, real_estate.release_event,
                real_estate.property_availability, real_estate.project_availability,
                real_estate.release_backlog
   TO real_estate_reader;
GRANT real_estate_reader TO real_estate_app;

GRANT INSERT, UPDATE, DELETE ON real_estate.workspace TO real_estate_app;
GRANT INSERT (id, workspace_id, name, total_plots),
      UPDATE (name, total_plots),
      DELETE
   ON real_estate.project TO real_estate_app;
GRANT INSERT, UPDATE, DELETE ON real_estate.property TO real_estate_app;
GRANT EXECUTE ON FUNCTION real_estate.reserve_property(uuid, uuid, interval),
                          real_estate.release_reservation(uuid),
                          real_estate.release_expired_reservations(integer)
   TO real_estate_app;
GRANT EXECUTE ON FUNCTION real_estate.check_invariants() TO real_estate_reader;
