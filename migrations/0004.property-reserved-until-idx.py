"""
pyrelease 0004: the partial index the release scan uses. Only reserved rows are in it, so it
stays small however large the table grows, and expired ones come oldest first.

Built CONCURRENTLY (so not in a transaction: `__transactional__ = False`), so migrating onto
a table that already holds rows never blocks its writers. Every lock wait gives up after 10 s
instead of queueing behind a long transaction (CREATE INDEX CONCURRENTLY waits for open write
transactions on the table). A build that gave up leaves an INVALID index, and an index of
that name may not be the expected one: either is detected and dropped first, then rebuilt, so
re-running this migration is always safe. One step, so a failed build has nothing to undo.

Rolling back is a plain DROP INDEX, not CONCURRENTLY: it is instant once it has its lock and,
failing, leaves the index whole (a failed DROP INDEX CONCURRENTLY would leave it INVALID).
"""

from yoyo import step

__depends__ = {"0003.release-job"}
__transactional__ = False

LOCK_TIMEOUT = "SET lock_timeout = '10s'"

DROP_BROKEN = """
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
$$
"""

BUILD = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS property_reserved_until_idx
    ON real_estate.property (reserved_until)
    WHERE status = 'RESERVED'
"""

DROP = "DROP INDEX IF EXISTS real_estate.property_reserved_until_idx"


def apply_step(conn):
    for statement in (LOCK_TIMEOUT, DROP_BROKEN, BUILD):
        conn.execute(statement)


def rollback_step(conn):
    for statement in (LOCK_TIMEOUT, DROP):
        conn.execute(statement)


steps = [step(apply_step, rollback_step)]
