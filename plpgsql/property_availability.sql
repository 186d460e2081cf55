-- real_estate.property_availability: every property with its effective availability, what
-- readers should use, so that nobody depends on when the scheduled run last ran. A
-- reservation that has expired (reserved_until <= now()) in an ACTIVE workspace reads as
-- AVAILABLE with no holder: exactly what the release will make of it. Reservations in other
-- workspaces are never released, so they read as stored.
CREATE OR REPLACE VIEW real_estate.property_availability AS
SELECT p.id,
       p.workspace_id,
       p.project_id,
       p.name,
       CASE WHEN p.release_pending THEN 'AVAILABLE' ELSE p.status END AS status,
       CASE WHEN p.release_pending THEN NULL ELSE p.reserved_by_id END AS reserved_by_id,
       CASE WHEN p.release_pending THEN NULL ELSE p.reserved_until END AS reserved_until,
       p.status AS stored_status,
       p.release_pending
  FROM (SELECT pr.*,
               (pr.status = 'RESERVED' AND pr.reserved_until <= now()
                AND w.activation_status = 'ACTIVE') AS release_pending
          FROM real_estate.property AS pr
          JOIN real_estate.workspace AS w ON w.id = pr.workspace_id) AS p;
COMMENT ON VIEW real_estate.property_availability IS 'Every property with its effective status: an expired reservation of an ACTIVE workspace reads as AVAILABLE with no holder';

REVOKE ALL ON real_estate.property_availability FROM PUBLIC;
GRANT SELECT ON real_estate.property_availability TO real_estate_reader;
