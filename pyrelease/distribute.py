"""`pyrelease distribute`: spread the real_estate tables over a Citus cluster.

Thin on purpose: it migrates, then calls real_estate.distribute_tables(), which does the
work in SQL (keys, create_distributed_table, triggers and routines on every node).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import migrations
from .db import connect, pinned
from .errors import InvalidArgument, translated
from .owner import require_owner
from .queries import QUERIES


@dataclass(frozen=True)
class Step:
    object: str
    """What the step is about, e.g. ``real_estate.property distributed by workspace_id``."""
    action: str
    """``done`` (this call did it) or ``already`` (an earlier call had)."""


def distribute(dsn: str = "", shard_count: int | None = None) -> list[Step]:
    """Migrate, then distribute property, project and release_event by workspace_id (and
    workspace by id), co-located, on the Citus coordinator ``dsn``. Idempotent.

    Raises NotDistributable without Citus in the database or without workers.
    """
    if shard_count is not None and (
        isinstance(shard_count, bool) or not isinstance(shard_count, int) or shard_count < 1
    ):
        raise InvalidArgument(f"shard_count must be a positive integer, got {shard_count!r}")
    migrations.migrate(dsn)
    with connect(dsn) as conn:
        require_owner(conn, "distribute")
        with translated(), pinned(conn):
            rows = conn.execute(QUERIES["distribute"], {"shard_count": shard_count}).fetchall()
    return [Step(*row) for row in rows]
