"""
pyrelease 0009: the unique indexes a Citus distribution needs. Citus requires every primary key
and unique constraint of a distributed table to include its distribution column
(workspace_id), so property and release_event get a unique index on (id, workspace_id)
(project has one already: project_id_workspace_id_key). On a single node nothing else
changes: the primary keys stay on (id), so ON CONFLICT (id), lookups and foreign keys behave
as before. `pyrelease distribute` later swaps the primary keys onto these indexes in one
instant, atomic step, just before distributing the tables (real_estate.distribute_tables).

Built CONCURRENTLY (so not in a transaction: `__transactional__ = False`): migrating onto
tables that already hold rows never blocks their writers; every lock wait gives up after
10 s. A build that gave up leaves an INVALID index: it is dropped first and rebuilt, so
re-running this migration is always safe. One step, so a failed build has nothing to undo.

Rolling back is a plain DROP INDEX of each (as for 0004). Once `pyrelease distribute` has made
them the primary keys they are named *_pkey and are left alone: a distributed install is
rolled back by undistributing it first.
"""

from yoyo import step

__depends__ = {"0007.release-event-reason"}
__transactional__ = False

LOCK_TIMEOUT = "SET lock_timeout = '10s'"
INDEXES = {
    "property_id_workspace_id_key": "real_estate.property (id, workspace_id)",
    "release_event_id_workspace_id_key": "real_estate.release_event (id, workspace_id)",
}

DROP_INVALID = """
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
$$
"""


def apply_step(conn):
    conn.execute(LOCK_TIMEOUT)
    conn.execute(DROP_INVALID)
    for name, target in INDEXES.items():
        conn.execute(f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {target}")


def rollback_step(conn):
    conn.execute(LOCK_TIMEOUT)
    for name in reversed(INDEXES):
        conn.execute(f"DROP INDEX IF EXISTS real_estate.{name}")


steps = [step(apply_step, rollback_step)]
