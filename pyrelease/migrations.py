"""Apply and roll back pyrelease's migrations with yoyo, on any libpq connection string.

yoyo applies the numbered migrations; the install core (install.install: the routines from
plpgsql/, then the release job) follows them. `pyrelease migrate` runs the core itself, on
every migrate. yoyo runs a step only for a migration it has not applied yet, so migrations/
also holds an install marker for `yoyo apply`: install.<digest>.py, written by `make schema`,
its id a digest of plpgsql/ and of the numbered migrations' ids, its step the core. A release
that changes either brings a new marker, which `yoyo apply` runs after the numbered ones (and
runs again after a failure, as `pyrelease migrate` does). The yoyo migration table holds a
marker only while it is true: installing another release's routines forgets the others, and
any rollback forgets them all (the next `yoyo apply` runs its marker again). `pyrelease
migrate` records none and reports none: it returns the numbered migrations it applied.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import psycopg
from psycopg import sql
from yoyo import exceptions as yoyo_exceptions
from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import parse_uri

from .db import connect
from .errors import MigrationError, PyreleaseError, translate
from .install import LOCK_TIMEOUT, explained, failed, install, stopped
from .owner import require_owner
from .queries import sql_dir

MIGRATION_TABLE = "_yoyo_migration"
MARKER = re.compile(r"install\.[0-9a-f]{16}")


def migrations_dir() -> str:
    """The folder of the numbered migrations (and the install marker), for DBAs who run
    `yoyo apply` themselves: yoyo.ini is not in the wheel, this folder is."""
    return str(sql_dir("migrations"))


def is_marker(migration_id: str) -> bool:
    """Whether a yoyo migration id is an install marker's (not a numbered migration's)."""
    return MARKER.fullmatch(migration_id) is not None


def migrate(dsn: str = "", schedule: bool = True) -> list[str]:
    """Apply every pending numbered migration, then the install core (install.install);
    return the migrations' ids (empty when up to date).

    The core installs the routines from plpgsql/ when they changed and converges on the
    release job: re-created when missing or altered (keeping its schedule and retention),
    a MigrationError when pg_cron is installed but refuses it. Without pg_cron, or with
    schedule=False (`--no-schedule`), one warning line says that no schedule was created."""
    with _backend(dsn, "migrate") as backend, _lock(backend), _cancellations():
        source = read_migrations(migrations_dir())
        pending = backend.to_apply(source).filter(lambda m: not is_marker(m.id))
        _run(backend.apply_migrations_only, pending)
        install(backend.connection, schedule)
        forget_markers(backend.connection, keep={m.id for m in source if is_marker(m.id)})
        return [m.id for m in pending]


def apply_marker(conn: psycopg.Connection[Any], marker_id: str) -> None:
    """The install marker's step, under `yoyo apply`: the install core, then the other
    releases' markers forgotten (yoyo records this one once the step succeeded)."""
    require_owner(conn, "yoyo apply")
    install(conn)
    forget_markers(conn, keep={marker_id})


def forget_markers(conn: psycopg.Connection[Any], keep: Collection[str] = ()) -> None:
    """Delete the install markers but `keep` from yoyo's migration table (found on the
    search_path, as yoyo finds it), when there is one."""
    table = sql.Identifier(MIGRATION_TABLE)
    found = conn.execute("SELECT pg_catalog.to_regclass(%s)", (table.as_string(conn),))
    if found.fetchone() == (None,):
        return
    conn.execute(
        sql.SQL(
            "DELETE FROM {} WHERE migration_id OPERATOR(pg_catalog.~) %s"
            " AND NOT migration_id OPERATOR(pg_catalog.=) ANY (%s)"
        ).format(table),
        (f"^{MARKER.pattern}$", list(keep)),
    )


@contextmanager
def _cancellations() -> Iterator[None]:
    """A statement cancelled outside the migration steps (yoyo's own queries) says why, as
    the steps' failures do: pyrelease never cancels its own."""
    try:
        yield
    except psycopg.errors.QueryCanceled as exc:
        raise stopped(exc) from exc


def rollback(dsn: str = "", steps: int | Literal["all"] = 1) -> list[str]:
    """Roll back the last `steps` applied migrations, or all of them; return their ids."""
    if steps != "all" and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise MigrationError(f"steps must be a positive integer or 'all', got {steps!r}")
    with _backend(dsn, "rollback") as backend, _lock(backend), _cancellations():
        applied = backend.to_rollback(read_migrations(migrations_dir()))
        numbered = applied.filter(lambda m: not is_marker(m.id))
        chosen = numbered if steps == "all" else numbered[:steps]
        if chosen:
            forget_markers(backend.connection)
        _run(backend.rollback_migrations, chosen)
        return [m.id for m in chosen]


def break_lock(dsn: str = "") -> None:
    """Remove a migration lock left by a migration that was killed half-way."""
    with _backend(dsn, "migrate --break-lock") as backend:
        backend.break_lock()


def _run(action: Any, argument: Any) -> None:
    try:
        action(argument)
    except PyreleaseError:
        raise
    except Exception as exc:
        raise failed(exc) from exc


@contextmanager
def _lock(backend: PostgresqlPsycopgBackend) -> Iterator[None]:
    """yoyo's migration lock. yoyo reports any failure to take it as a lock held by another
    process (or, with no lock table, as a missing relation): find the true reason."""
    with contextlib.ExitStack() as held_lock:
        try:
            held_lock.enter_context(backend.lock(timeout=10))
        except (yoyo_exceptions.LockTimeout, psycopg.Error) as exc:
            reason = _lock_failure(backend.connection)
            if reason is not None:
                raise MigrationError(f"cannot take the migration lock: {reason}") from exc
            held = str(exc).split(" (run yoyo break-lock")[0]
            raise MigrationError(
                f"{held}; if no migration is running (one was killed half-way), "
                "clear it with `pyrelease migrate --break-lock`"
            ) from exc
        yield


def _lock_failure(conn: psycopg.Connection[Any]) -> str | None:
    """Why the lock row cannot be written, or None when it can (another process holds it):
    the lock table's creation (which yoyo ignores when it fails) and the row's insertion,
    tried again and rolled back."""
    attempts = (
        "CREATE TABLE IF NOT EXISTS public.yoyo_lock"
        " (locked INT DEFAULT 1, ctime TIMESTAMP, pid INT NOT NULL, PRIMARY KEY (locked))",
        "INSERT INTO public.yoyo_lock (locked, ctime, pid) VALUES (2, now(), 0)",
    )
    try:
        with conn.transaction(force_rollback=True):
            for statement in attempts:
                conn.execute(statement)
    except psycopg.errors.UniqueViolation:
        return None
    except psycopg.Error as exc:
        return explained(exc)
    return None


def _refuse_read_only(conn: psycopg.Connection[Any]) -> None:
    """A read-only connection cannot migrate: say so, before yoyo mistakes it for a lock."""
    try:
        row = conn.execute(
            "SELECT pg_catalog.pg_is_in_recovery(),"
            " pg_catalog.current_setting('transaction_read_only')::boolean"
        ).fetchone()
    except psycopg.Error as exc:
        raise MigrationError(f"cannot prepare migrations: {explained(exc)}") from exc
    standby, read_only = row if row is not None else (False, False)
    if standby:
        raise MigrationError("the server is a read-only standby: migrate on the primary")
    if read_only:
        raise MigrationError(
            "the connection is read-only (default_transaction_read_only is on):"
            " migrations need a read-write connection"
        )


class _Backend(PostgresqlPsycopgBackend):
    """yoyo's PostgreSQL backend on a libpq connection string.

    Not yoyo's public get_backend(URL): pyrelease accepts every libpq connection string
    (keyword form, service files, PG* variables), which a URL cannot always carry, so it
    overrides connect(), the one method yoyo calls to open the connection. The rest is
    yoyo's public backend API (lock, to_apply, apply_migrations_only, rollback_migrations).
    """

    dsn = ""
    command = "migrate"

    def connect(self, dburi: Any) -> psycopg.Connection[Any]:
        conn = connect(self.dsn)
        # yoyo writes its bookkeeping tables, whose triggers run as us, and the migrations
        # re-create the owner's routines: only the owner may (see owner.py).
        require_owner(conn, self.command)
        # Never queue behind a long transaction (and block the table behind us); the
        # transactional migrations also SET LOCAL it, for DBAs who drive yoyo directly.
        conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        _refuse_read_only(conn)
        return conn

    def create_lock_table(self) -> None:
        """yoyo ignores any failure to create its lock table, and later reports the missing
        table (a cancelled statement became 'relation "yoyo_lock" does not exist'). A
        failure is ignored only when the table is there after all."""
        try:
            with self.transaction():
                self.execute(self.format_sql(self.create_lock_table_sql))
        except psycopg.Error:
            row = self.execute(f"SELECT to_regclass('{self.lock_table_quoted}')").fetchone()
            if row is None or row[0] is None:
                raise


@contextmanager
def _backend(dsn: str, command: str) -> Iterator[PostgresqlPsycopgBackend]:
    # yoyo re-creates a backend from its class (copy() for each migration), so the DSN
    # travels as a class attribute of a per-call subclass.
    backend_class = type("Backend", (_Backend,), {"dsn": dsn, "command": command})
    try:
        backend = backend_class(parse_uri("postgresql+psycopg://"), MIGRATION_TABLE)
        backend.init_database()
    except psycopg.Error as exc:
        mapped = translate(exc)
        raise (mapped or MigrationError(f"cannot prepare migrations: {explained(exc)}")) from exc
    try:
        yield backend
    finally:
        backend.connection.close()
