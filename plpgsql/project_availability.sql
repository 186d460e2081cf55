-- real_estate.project_availability: every project with its stored available_plots and the
-- effective count (expired reservations of ACTIVE workspaces counted as available). Read-only.
CREATE OR REPLACE VIEW real_estate.project_availability AS
SELECT pr.id,
       pr.workspace_id,
       pr.name,
       pr.total_plots,
       pr.available_plots,
       pr.available_plots + coalesce(x.pending, 0)::integer AS effective_available_plots,
       coalesce(x.pending, 0)::integer AS release_pending
  FROM real_estate.project AS pr
  LEFT JOIN (SELECT p.project_id, count(*) AS pending
               FROM real_estate.property AS p
               JOIN real_estate.workspace AS w ON w.id = p.workspace_id
              WHERE p.status = 'RESERVED'
                AND p.reserved_until <= now()
                AND w.activation_status = 'ACTIVE'
                AND p.project_id IS NOT NULL
              GROUP BY p.project_id) AS x ON x.project_id = pr.id;
COMMENT ON VIEW real_estate.project_availability IS 'Every project with its stored and effective available plots (expired reservations counted as available)';

REVOKE ALL ON real_estate.project_availability FROM PUBLIC;
GRANT SELECT ON real_estate.project_availability TO real_estate_reader;
