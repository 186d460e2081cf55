"""pyrelease in a project that migrates with alembic (the `pyrelease[alembic]` extra).

A revision's upgrade() calls `pyrelease.alembic.upgrade(op, "0014.release-heartbeat")` and
its downgrade() `pyrelease.alembic.downgrade(op)`: the first installs pyrelease (its numbered
migrations up to that one, then, at the release's latest one, its routines and the release
job), the second removes it. A later release is taken by a new revision that names that
release's latest migration and, in its downgrade(), the one before
(`downgrade(op, "0014.release-heartbeat")`): downgrading it rolls the numbered migrations
back to that point. The routines are the installed package's (it ships only its latest):
they stay, except what those rollbacks remove.

Both run on alembic's own connection (SQLAlchemy's psycopg 3 driver, postgresql+psycopg://)
inside `autocommit_block()` (CREATE INDEX CONCURRENTLY cannot run in a transaction), as the
install's owner, with the same statements, yoyo bookkeeping and lock as `pyrelease migrate`:
`pyrelease status` and `pyrelease migrate` see what alembic applied. alembic imports nothing
of this module, nor this module anything of alembic's.
"""

from __future__ import annotations

from typing import Any

import psycopg

from . import migrations
from .errors import MigrationError


def upgrade(op: Any, target: str | None = None, *, schedule: bool = True) -> list[str]:
    """Bring pyrelease to its numbered migration `target` (None: the installed release's
    latest, see latest()); return the ids applied. `schedule=False`: no release job."""
    context = _online(op)
    with context.autocommit_block():
        return migrations.upgrade(driver_connection(op.get_bind()), target, schedule)


def downgrade(op: Any, target: str | None = None) -> list[str]:
    """Roll pyrelease back to its numbered migration `target` (None: remove it); return the
    ids rolled back."""
    context = _online(op)
    with context.autocommit_block():
        return migrations.downgrade(driver_connection(op.get_bind()), target)


def latest() -> str:
    """The installed release's latest numbered migration: what a new revision names."""
    return migrations.head()


def driver_connection(bind: Any) -> psycopg.Connection[Any]:
    """The psycopg 3 connection under a SQLAlchemy Connection (or Session, or alembic's
    bind): what the pyrelease API takes."""
    if hasattr(bind, "get_bind"):  # a Session: the Connection of its transaction
        bind = bind.connection()
    conn = bind.connection.driver_connection
    if not isinstance(conn, psycopg.Connection):
        raise MigrationError(
            f"pyrelease needs SQLAlchemy's psycopg 3 driver (postgresql+psycopg://),"
            f" not {type(conn).__module__}"
        )
    return conn


def _online(op: Any) -> Any:
    context = op.get_context()
    if context.as_sql:
        raise MigrationError(
            "pyrelease plans its SQL from the database's state: alembic's offline mode"
            " (--sql) cannot; print it with `pyrelease migrate --sql`"
        )
    return context
