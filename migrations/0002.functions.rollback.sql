-- Rolls back pyrelease 0002: removes what the post-apply step installed from plpgsql/ (the
-- triggers on this schema's tables, its views, functions and procedures), so that rolling
-- back 0001 can drop the tables and the schema. No CASCADE: if the application built its
-- own objects on these (a view on ours, a trigger calling our function), the rollback stops
-- with PostgreSQL's error instead of dropping them silently.
SET LOCAL lock_timeout = '10s';

DO $$
DECLARE
    v_object record;
BEGIN
    FOR v_object IN
        SELECT t.tgname, c.relname
          FROM pg_catalog.pg_trigger AS t
          JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid
          JOIN pg_catalog.pg_proc AS f ON f.oid = t.tgfoid
         WHERE NOT t.tgisinternal
           AND c.relnamespace = 'real_estate'::regnamespace
           AND f.pronamespace = 'real_estate'::regnamespace
         ORDER BY c.relname, t.tgname
    LOOP
        EXECUTE format('DROP TRIGGER %I ON real_estate.%I', v_object.tgname, v_object.relname);
    END LOOP;
    -- Newest first, so a view is dropped before the views it is built on.
    FOR v_object IN
        SELECT c.relname
          FROM pg_catalog.pg_class AS c
         WHERE c.relnamespace = 'real_estate'::regnamespace AND c.relkind = 'v'
         ORDER BY c.oid DESC
    LOOP
        EXECUTE format('DROP VIEW real_estate.%I', v_object.relname);
    END LOOP;
    FOR v_object IN
        SELECT p.oid::regprocedure AS routine, p.prokind
          FROM pg_catalog.pg_proc AS p
         WHERE p.pronamespace = 'real_estate'::regnamespace
         ORDER BY p.oid DESC
    LOOP
        EXECUTE format('DROP %s %s',
                       CASE v_object.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                       v_object.routine);
    END LOOP;
END
$$;
