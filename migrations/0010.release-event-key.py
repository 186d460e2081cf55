"""
pyrelease 0010: on a single node, release_event no longer carries the unique index on
(id, workspace_id) that 0009 built for a later Citus distribution. Event ids are an identity
column, so on a single node it only duplicated the primary key, and every released row paid
for a third index insertion (about 4% of the release; see README, Performance).
`pyrelease distribute` now builds the (id, workspace_id) primary key of release_event itself,
inside its one transaction that already locks the tables it distributes
(real_estate.distribute_tables). property keeps its (id, workspace_id) index: it is swapped
into the primary key in an instant, and property, unlike the log, is read by the
application while distribute runs.

Dropped CONCURRENTLY (so not in a transaction: `__transactional__ = False`): it waits for
the transactions using the table instead of blocking its writers, and gives up after 10 s of
waiting for a lock. A drop that gave up leaves the index INVALID: re-running drops it.
Nothing is dropped once the index is the primary key (a distributed install).

Rolling back rebuilds the index CONCURRENTLY (dropping an INVALID one left by a failed build
first), unless release_event's primary key already includes workspace_id.
"""

from yoyo import step

__depends__ = {"0009.distribution-keys"}
__transactional__ = False

LOCK_TIMEOUT = "SET lock_timeout = '10s'"
DROP = "DROP INDEX CONCURRENTLY IF EXISTS real_estate.release_event_id_workspace_id_key"

DROP_INVALID = """
DO $$
BEGIN
    IF EXISTS (SELECT 1
                 FROM pg_catalog.pg_index AS i
                WHERE i.indexrelid = pg_catalog.to_regclass('real_estate.release_event_id_workspace_id_key')
                  AND NOT i.indisvalid) THEN
        RAISE NOTICE 'pyrelease: dropping INVALID index real_estate.release_event_id_workspace_id_key (a failed build) to rebuild it';
        DROP INDEX real_estate.release_event_id_workspace_id_key;
    END IF;
END
$$
"""

KEYED = """
SELECT pg_catalog.pg_get_constraintdef(c.oid) <> 'PRIMARY KEY (id)'
  FROM pg_catalog.pg_constraint AS c
 WHERE c.conname = 'release_event_pkey'
   AND c.conrelid = 'real_estate.release_event'::regclass
"""

BUILD = """
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS release_event_id_workspace_id_key
    ON real_estate.release_event (id, workspace_id)
"""


def apply_step(conn):
    conn.execute(LOCK_TIMEOUT)
    conn.execute(DROP)


def rollback_step(conn):
    conn.execute(LOCK_TIMEOUT)
    cur = conn.cursor()
    cur.execute(KEYED)
    row = cur.fetchone()
    if row is not None and row[0]:
        return  # distributed: the primary key is (id, workspace_id) already
    conn.execute(DROP_INVALID)
    conn.execute(BUILD)


steps = [step(apply_step, rollback_step)]
