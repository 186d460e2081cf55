-- depends: 0004.property-reserved-until-idx
-- pyrelease 0005: least privilege. Two NOLOGIN roles to grant to real users:
--   real_estate_reader  reads the tables and views;
--   real_estate_app     reader + reserve/release functions + the DML an application needs
--                       on workspace/project/property, but never writes available_plots
--                       (the database maintains it) nor the release logs.
-- PUBLIC gets nothing (functions are executable by PUBLIC by default: revoked explicitly).
-- Roles are cluster-wide: they are created if missing and shared by every application
-- database on the server. The grants on views and routines are in their own files in
-- plpgsql/ (installed after the migrations).
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


REVOKE ALL ON SCHEMA real_estate FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA real_estate FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA real_estate FROM PUBLIC;
REVOKE ALL ON ALL ROUTINES IN SCHEMA real_estate FROM PUBLIC;

GRANT USAGE ON SCHEMA real_estate TO real_estate_reader, real_estate_app;
GRANT SELECT ON real_estate.workspace, real_estate.project, real_estate.property,
                real_estate.release_run, real_estate.release_event
   TO real_estate_reader;
GRANT real_estate_reader TO real_estate_app;

GRANT INSERT, UPDATE, DELETE ON real_estate.workspace TO real_estate_app;
GRANT INSERT (id, workspace_id, name, total_plots),
      UPDATE (name, total_plots),
      DELETE
   ON real_estate.project TO real_estate_app;
GRANT INSERT, UPDATE, DELETE ON real_estate.property TO real_estate_app;
