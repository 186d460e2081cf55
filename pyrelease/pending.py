"""Which of the package's migrations a database lacks, said in one line by every command.

After a supported rollback (or a package upgrade not yet migrated) the routines and the
tables no longer match what the package calls: the commands that need them refuse in one line
naming the pending migrations (`require_migrated`); `status` shows what it can and its
`--check` says "unhealthy: migrations pending". Read from yoyo's log (public._yoyo_migration)
when this role may read it; otherwise from the catalog: the health rule's table missing means
migrations are pending, without naming them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg

from .errors import NotMigrated, expect_row
from .owner import reading
from .queries import QUERIES, sql_dir

LOG = "public._yoyo_migration"
_MIGRATION = re.compile(r"^(\d{4}\.[^.]+)\.(?:sql|py)$")


def known_migrations() -> list[str]:
    """The package's migration ids, in order (their file names, as yoyo names them)."""
    names = (path.name for path in sql_dir("migrations").iterdir())
    return sorted(found[1] for name in names if (found := _MIGRATION.match(name)))


@dataclass(frozen=True)
class Migrations:
    """What a database has of the package's migrations."""

    installed: bool
    """The schema real_estate exists."""
    pending: tuple[str, ...]
    """The package's migrations the database lacks, in order."""
    unnamed: bool = False
    """This role cannot read yoyo's log, and the catalog shows migrations pending."""

    @property
    def current(self) -> bool:
        return self.installed and not self.pending and not self.unnamed

    def message(self) -> str:
        """The one line that says what is pending ('' when nothing is)."""
        if not self.installed:
            return "the database is not migrated: run `pyrelease migrate`"
        if self.unnamed:
            return (
                "migrations pending (this role cannot read public._yoyo_migration to name"
                " them): `pyrelease migrate` applies them"
            )
        if self.pending:
            return (
                f"migrations pending: {', '.join(self.pending)} (`pyrelease migrate` applies them)"
            )
        return ""


def migration_state(conn: psycopg.Connection[Any]) -> Migrations:
    """The database's migrations as this role can tell (read in owner.reading: yoyo's log is
    a table of the install's owner)."""
    with reading(conn, [LOG]):
        installed, log_readable, has_health = expect_row(
            conn.execute(QUERIES["migration_log"]).fetchone(), "migration_log"
        )
        applied = (
            {row[0] for row in conn.execute(QUERIES["applied_migrations"]).fetchall()}
            if log_readable
            else set()
        )
    if not installed:
        return Migrations(installed=False, pending=tuple(known_migrations()))
    if not log_readable:
        return Migrations(installed=True, pending=(), unnamed=not has_health)
    return Migrations(
        installed=True, pending=tuple(m for m in known_migrations() if m not in applied)
    )


def require_migrated(conn: psycopg.Connection[Any], command: str) -> None:
    """Refuse (NotMigrated), in one line naming the pending migrations, to run `command` on
    a database that lacks some of them."""
    state = migration_state(conn)
    if not state.current:
        raise NotMigrated(f"{command}: {state.message()}")
