-- transactional: false
-- depends: 0005.roles
-- pyrelease 0009: the unique indexes a Citus distribution needs. Citus requires every
-- primary key and unique constraint of a distributed table to include its distribution
-- column (workspace_id), so property and release_event get a unique index on
-- (id, workspace_id) (project has one already: project_id_workspace_id_key). On a single
-- node nothing else changes: the primary keys stay on (id), so ON CONFLICT (id), lookups
-- and foreign keys behave as before. `pyrelease distribute` later swaps each primary key
-- onto these indexes in one instant, atomic step, just before distributing the tables.
-- Built CONCURRENTLY (writers are never blocked), hence non-transactional like 0004; a
-- build that failed leaves an INVALID index, dropped and rebuilt by the next run.
SET lock_timeout = '10s';

DO $$
DECLARE
    v_index text;
BEGIN
    FOR v_index IN
        SELECT c.relname
          FROM pg_catalog.pg_index AS i
          JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
          JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = 'real_estate'
           AND c.relname IN ('property_id_workspace_id_key', 'release_event_id_workspace_id_key')
           AND NOT i.indisvalid
    LOOP
        RAISE NOTICE 'pyrelease: dropping INVALID index real_estate.% (a failed build) to rebuild it', v_index;
        EXECUTE format('DROP INDEX real_estate.%I', v_index);
    END LOOP;
END
$$;

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS property_id_workspace_id_key
    ON real_estate.property (id, workspace_id);

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS release_event_id_workspace_id_key
    ON real_estate.release_event (id, workspace_id);
