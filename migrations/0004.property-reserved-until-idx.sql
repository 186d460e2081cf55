-- transactional: false
-- depends: 0003.release-job
-- pyrelease 0004: the partial index the release scan uses. Only reserved rows are in it, so
-- it stays small however large the table grows, and expired ones come oldest first.
-- Built CONCURRENTLY, so migrating onto a table that already holds rows never blocks its
-- writers. A build that failed (lock timeout, cancel) leaves an INVALID index behind, and an
-- index of that name may not be the expected one: either is detected and dropped first
-- (under lock_timeout), then rebuilt. Re-running this migration is always safe.

-- Every lock wait below gives up after 10 s instead of queueing behind a long transaction
-- (CREATE INDEX CONCURRENTLY waits for open write transactions on the table); a build that
-- gives up leaves an INVALID index, rebuilt by the next run of this migration.
SET lock_timeout = '10s';

DO $$
BEGIN
    IF EXISTS (SELECT 1
                 FROM pg_catalog.pg_index AS i
                 JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
                 JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
                WHERE n.nspname = 'real_estate'
                  AND c.relname = 'property_reserved_until_idx'
                  AND (NOT i.indisvalid
                       OR pg_catalog.pg_get_indexdef(i.indexrelid)
                          <> 'CREATE INDEX property_reserved_until_idx ON real_estate.property USING btree (reserved_until) WHERE (status = ''RESERVED''::text)')) THEN
        RAISE NOTICE 'pyrelease: dropping real_estate.property_reserved_until_idx (INVALID after a failed build, or not the expected definition) to rebuild it';
        DROP INDEX real_estate.property_reserved_until_idx;
    END IF;
END
$$;

CREATE INDEX CONCURRENTLY IF NOT EXISTS property_reserved_until_idx
    ON real_estate.property (reserved_until)
    WHERE status = 'RESERVED';
