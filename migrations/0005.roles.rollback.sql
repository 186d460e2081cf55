-- Rolls back pyrelease 0005: this database's grants. The roles are
-- dropped only when nothing else on the server (another application database) still uses
-- them; otherwise they are kept, with a NOTICE. Their membership (app in reader) is
-- cluster-wide: it is left alone here, and goes with the roles when they are dropped.
SET LOCAL lock_timeout = '10s';

REVOKE ALL ON ALL TABLES IN SCHEMA real_estate FROM real_estate_reader, real_estate_app;
REVOKE ALL ON ALL ROUTINES IN SCHEMA real_estate FROM real_estate_reader, real_estate_app;
REVOKE ALL ON SCHEMA real_estate FROM real_estate_reader, real_estate_app;

DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['real_estate_app', 'real_estate_reader'] LOOP
        BEGIN
            EXECUTE format('DROP ROLE IF EXISTS %I', v_role);
        EXCEPTION WHEN dependent_objects_still_exist THEN
            RAISE NOTICE 'pyrelease: role % kept: another database still grants it privileges', v_role;
        END;
    END LOOP;
END
$$;
