-- Rolls back pyrelease 0012: release_health() (installed by plpgsql/ on top of it: the next
-- migrate reinstalls it), the registration table, and this database's grants to
-- real_estate_monitor. The role is dropped only when nothing else on the server still uses it
-- (another database's grants, the CONNECT of `pyrelease grants`); otherwise it is kept, with a
-- NOTICE, as 0005 keeps its two.
SET LOCAL lock_timeout = '10s';

DROP FUNCTION IF EXISTS real_estate.release_health(boolean);
DELETE FROM real_estate.routine_source;
DROP TABLE IF EXISTS real_estate.release_schedule;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'real_estate_monitor') THEN
        REVOKE ALL ON ALL TABLES IN SCHEMA real_estate FROM real_estate_monitor;
        REVOKE ALL ON ALL ROUTINES IN SCHEMA real_estate FROM real_estate_monitor;
        REVOKE ALL ON SCHEMA real_estate FROM real_estate_monitor;
        IF pg_catalog.to_regclass('public._yoyo_migration') IS NOT NULL
           AND pg_catalog.has_table_privilege('public._yoyo_migration', 'SELECT WITH GRANT OPTION') THEN
            REVOKE ALL ON public._yoyo_migration FROM real_estate_monitor;
        END IF;
        BEGIN
            DROP ROLE real_estate_monitor;
        EXCEPTION
            WHEN dependent_objects_still_exist THEN
                RAISE NOTICE 'pyrelease: role real_estate_monitor kept: another database still grants it privileges';
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'pyrelease: role real_estate_monitor kept: dropping it needs CREATEROLE';
        END;
    END IF;
END
$$;
