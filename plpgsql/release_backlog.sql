-- real_estate.release_backlog: what is left for the release to do: expired reservations of
-- ACTIVE workspaces not yet released, and the age of the oldest one (for monitoring).
CREATE OR REPLACE VIEW real_estate.release_backlog AS
SELECT count(*)::bigint AS expired_reservations,
       min(p.reserved_until) AS oldest_reserved_until,
       now() - min(p.reserved_until) AS oldest_age
  FROM real_estate.property AS p
  JOIN real_estate.workspace AS w ON w.id = p.workspace_id
 WHERE p.status = 'RESERVED'
   AND p.reserved_until <= now()
   AND w.activation_status = 'ACTIVE';
COMMENT ON VIEW real_estate.release_backlog IS 'Expired reservations of ACTIVE workspaces not yet released, and the age of the oldest';

REVOKE ALL ON real_estate.release_backlog FROM PUBLIC;
GRANT SELECT ON real_estate.release_backlog TO real_estate_reader;
