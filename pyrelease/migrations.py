"""Apply and roll back pyrelease's migrations with yoyo, on any libpq connection string."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import psycopg
from yoyo import exceptions as yoyo_exceptions
from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import parse_uri

from . import cron
from .db import connect
from .errors import MigrationError, PyreleaseError, first_line, translate
from .install import post_apply
from .owner import require_owner

log = logging.getLogger("pyrelease")

MIGRATION_TABLE = "_yoyo_migration"
LOCK_TIMEOUT = "10s"


def sql_dir(name: str) -> Path:
    """migrations/ or plpgsql/: inside the installed wheel, else beside the package."""
    packaged = Path(str(files("pyrelease"))) / "_sql" / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name


def migrations_dir() -> str:
    """The folder of the numbered migrations (and yoyo's post-apply.py), for DBAs who run
    `yoyo apply` themselves: yoyo.ini is not in the wheel, this folder is."""
    return str(sql_dir("migrations"))


def migrate(dsn: str = "", schedule: bool = True) -> list[str]:
    """Apply every pending migration, then the post-apply step (routines from plpgsql/);
    return the migrations' ids (empty when up to date).

    Then converge on the release job: re-create it when it is missing or altered (keeping
    its schedule and retention), and raise MigrationError when pg_cron is installed but
    refuses it. Without pg_cron, or with schedule=False (`--no-schedule`), one warning
    line says that no schedule was created."""
    with _backend(dsn, "migrate") as backend, _lock(backend), _cancellations():
        pending = backend.to_apply(read_migrations(str(sql_dir("migrations"))))
        _run(backend.apply_migrations_only, pending)
        _run(lambda conn: post_apply(conn, schedule=False), backend.connection)
        if schedule:
            _converge(backend.connection)
        else:
            log.warning("no release schedule was created (--no-schedule)")
        return [m.id for m in pending]


@contextmanager
def _cancellations() -> Iterator[None]:
    """A statement cancelled outside the migration steps (yoyo's own queries, the job's
    registration) says why, as the steps' failures do: pyrelease never cancels its own."""
    try:
        yield
    except psycopg.errors.QueryCanceled as exc:
        raise MigrationError(f"migrate stopped: {_explained(exc)}") from exc


def _converge(conn: psycopg.Connection[Any]) -> None:
    """The release job as it must be (pyrelease's own install.ensure_schedule, stricter:
    it repairs an altered job and fails when pg_cron refuses it)."""
    if cron.cron_setup(conn) is None:
        log.warning("%s", cron.NO_PG_CRON)
        return
    found = cron.job(conn)
    every, retention = cron.DEFAULT_SCHEDULE, cron.DEFAULT_RETENTION
    if found is not None:  # keep what the DBA chose, repair the rest
        retention = cron.retention_of(found)
        with contextlib.suppress(PyreleaseError):
            cron.check_readable(found.schedule)
            every = found.schedule
    try:
        job = cron.schedule(conn, every, retention)
    except PyreleaseError as exc:
        raise MigrationError(
            f"the migrations are applied, but the release job could not be registered: {exc}"
            " (fix it and run `pyrelease migrate` again; `--no-schedule` migrates without it)"
        ) from exc
    if found is None:
        log.info("scheduled %s (%s) in database %s", job.name, job.schedule, job.cron_database)


def rollback(dsn: str = "", steps: int | Literal["all"] = 1) -> list[str]:
    """Roll back the last `steps` applied migrations, or all of them; return their ids."""
    if steps != "all" and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise MigrationError(f"steps must be a positive integer or 'all', got {steps!r}")
    with _backend(dsn, "rollback") as backend, _lock(backend), _cancellations():
        applied = backend.to_rollback(read_migrations(str(sql_dir("migrations"))))
        chosen = applied if steps == "all" else applied[:steps]
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
        if isinstance(exc, psycopg.errors.QueryCanceled):
            message = _explained(exc)
        else:
            message = first_line(translate(exc) or exc)
        raise MigrationError(
            f"migration failed: {message} (a transactional migration was rolled back whole;"
            " fix the cause and run `pyrelease migrate` again)"
        ) from exc


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
        return _explained(exc)
    return None


def _explained(exc: BaseException) -> str:
    if isinstance(exc, psycopg.errors.QueryCanceled):
        # A statement timeout that fires as the next statement starts is reported by
        # PostgreSQL as a user request.
        cause = (
            "statement_timeout is too low to migrate"
            if "statement timeout" in str(exc)
            else "cancelled by a cancel request, or by a statement timeout"
        )
        return (
            f"{first_line(exc)} ({cause}: raise statement_timeout for this"
            " role or connection, e.g. PGOPTIONS='-c statement_timeout=0')"
        )
    return first_line(exc)


def _refuse_read_only(conn: psycopg.Connection[Any]) -> None:
    """A read-only connection cannot migrate: say so, before yoyo mistakes it for a lock."""
    try:
        row = conn.execute(
            "SELECT pg_catalog.pg_is_in_recovery(),"
            " pg_catalog.current_setting('transaction_read_only')::boolean"
        ).fetchone()
    except psycopg.Error as exc:
        raise MigrationError(f"cannot prepare migrations: {_explained(exc)}") from exc
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
        raise (mapped or MigrationError(f"cannot prepare migrations: {_explained(exc)}")) from exc
    try:
        yield backend
    finally:
        backend.connection.close()
