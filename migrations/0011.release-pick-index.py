"""
pyrelease 0011: the partial index the scheduled run picks a large backlog through, one
short read-only transaction at a time: reserved rows only, ordered by workspace, then
expiry, then id (a unique key to resume after). Each slice of the pick is then a range of
this index (real_estate.release_pick_chunk), so no pick holds a snapshot for the length of
the whole backlog, and the rows come out grouped by workspace without a sort of all of them.
The application pays one more index entry per reservation made (not per release: a
released row is no longer RESERVED, so it is not in the index).

Built CONCURRENTLY (so not in a transaction: `__transactional__ = False`), as 0004: it never
blocks the table's writers, every lock wait gives up after 10 s, and an INVALID index left
by a build that gave up (or an index of that name that is not this one) is dropped first
and rebuilt, so re-running this migration is always safe.

Rolling back is a plain DROP INDEX (instant once it has its lock; failing, it leaves the
index whole).
"""

from yoyo import step

__depends__ = {"0010.release-event-key"}
__transactional__ = False

LOCK_TIMEOUT = "SET lock_timeout = '10s'"

DEFINITION = (
    "CREATE INDEX property_release_pick_idx ON real_estate.property"
    " USING btree (workspace_id, reserved_until, id) WHERE (status = ''RESERVED''::text)"
)

DROP_BROKEN = f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1
                 FROM pg_catalog.pg_index AS i
                WHERE i.indexrelid = pg_catalog.to_regclass('real_estate.property_release_pick_idx')
                  AND (NOT i.indisvalid
                       OR pg_catalog.pg_get_indexdef(i.indexrelid) <> '{DEFINITION}')) THEN
        RAISE NOTICE 'pyrelease: dropping real_estate.property_release_pick_idx (INVALID after a failed build, or not the expected definition) to rebuild it';
        DROP INDEX real_estate.property_release_pick_idx;
    END IF;
END
$$
"""

BUILD = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS property_release_pick_idx
    ON real_estate.property (workspace_id, reserved_until, id)
    WHERE status = 'RESERVED'
"""

DROP = "DROP INDEX IF EXISTS real_estate.property_release_pick_idx"


def apply_step(conn):
    for statement in (LOCK_TIMEOUT, DROP_BROKEN, BUILD):
        conn.execute(statement)


def rollback_step(conn):
    for statement in (LOCK_TIMEOUT, DROP):
        conn.execute(statement)


steps = [step(apply_step, rollback_step)]
