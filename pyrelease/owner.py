"""A role other than the install's owner never runs the owner's code.

The owner (of schema real_estate, and of yoyo's bookkeeping tables in public) owns every
routine, view, trigger and table of the install. Whatever of it another role calls, selects
or writes can run code the owner wrote with that role's rights: a SECURITY INVOKER routine
(or one the owner turned into one), a view's functions, a trigger, a row-security policy, an
operator the owner put in public. SET ROLE is no boundary (the owner's code can RESET ROLE).
So:

* the commands that must run the owner's code (migrate, rollback, release, watch, schedule,
  distribute) refuse any role but the owner, in one line that says whom to connect as
  (`require_owner`);
* status reads only tables and catalogs (`reading`): every name and operator qualified, in a
  transaction with a pinned search_path, after locking the tables it reads and checking that
  they are plain tables whose reading runs nobody's code; it reads pg_cron's job (tables of
  pg_cron's, in its own database) only as the owner or a superuser (`reads_pg_cron`): pg_cron's
  row security shows any other role none of the owner's jobs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from .db import pinned
from .errors import NotOwner, PyreleaseError, expect_row, translated
from .queries import QUERIES

BOOKKEEPING = ("_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock")


def require_owner(conn: psycopg.Connection[Any], command: str) -> None:
    """Refuse (NotOwner) to run `command` unless this session's role owns the install. An
    owner that is superuser gains nothing from running as another role, and a database with
    no install yet has no owner (whoever migrates it becomes one)."""
    me, session, database, owners, not_superusers, _ = _ownership(conn)
    others = [o for o in owners if o in not_superusers and (o != me or o != session)]
    if not others:
        return
    owner = others[0]
    raise NotOwner(
        f"{command}: the pyrelease install in database {database!r} belongs to role {owner!r},"
        f" and {command} runs its code: connect as {owner!r}"
        f" (as {session!r}, that code would run with {session!r}'s rights)"
    )


def reads_pg_cron(conn: psycopg.Connection[Any]) -> bool:
    """Whether this role sees the install's pg_cron job: it is superuser, or the install's
    owner (in session and current role alike)."""
    me, session, _, owners, _, superuser = _ownership(conn)
    return bool(superuser) or (me == session and me in owners)


def _ownership(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    with translated(), pinned(conn):
        row = conn.execute(QUERIES["ownership"], {"bookkeeping": list(BOOKKEEPING)}).fetchone()
    return tuple(expect_row(row, "ownership"))


@contextmanager
def reading(conn: psycopg.Connection[Any], tables: Sequence[str]) -> Iterator[set[str]]:
    """A pinned transaction in which `tables` (those that exist and this role may read: the
    names it yields) are locked against change and known to be plain tables whose reading
    runs no code of another role."""
    with translated(), pinned(conn):
        found = conn.execute(QUERIES["existing_tables"], {"tables": list(tables)}).fetchall()
        if found:
            names = [sql.Identifier(*name.split(".", 1)) for name, _ in found]
            conn.execute(
                sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(sql.SQL(", ").join(names))
            )
            unsafe = conn.execute(
                QUERIES["unsafe_tables"], {"oids": [oid for _, oid in found]}
            ).fetchall()
            if unsafe:
                what = "; ".join(f"{table} {why}" for table, why in unsafe)
                raise PyreleaseError(
                    f"refusing to read the install's tables as this role: {what}"
                    " (reading it could run its owner's code; connect as the owner)"
                )
        yield {name for name, _ in found}
