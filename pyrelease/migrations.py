"""Apply and roll back pyrelease's migrations with yoyo, on any libpq connection string."""

from __future__ import annotations

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

from .db import connect
from .errors import MigrationError, PyreleaseError, first_line, translate

MIGRATION_TABLE = "_yoyo_migration"
LOCK_TIMEOUT = "10s"


def sql_dir(name: str) -> Path:
    """migrations/ or plpgsql/: inside the installed wheel, else beside the package."""
    packaged = Path(str(files("pyrelease"))) / "_sql" / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name


def migrate(dsn: str = "") -> list[str]:
    """Apply every pending migration; return their ids (empty when up to date)."""
    with _backend(dsn) as backend, _lock(backend):
        pending = backend.to_apply(read_migrations(str(sql_dir("migrations"))))
        _run(backend.apply_migrations, pending)
        return [m.id for m in pending]


def rollback(dsn: str = "", steps: int | Literal["all"] = 1) -> list[str]:
    """Roll back the last `steps` applied migrations, or all of them; return their ids."""
    if steps != "all" and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise MigrationError(f"steps must be a positive integer or 'all', got {steps!r}")
    with _backend(dsn) as backend, _lock(backend):
        applied = backend.to_rollback(read_migrations(str(sql_dir("migrations"))))
        chosen = applied if steps == "all" else applied[:steps]
        _run(backend.rollback_migrations, chosen)
        return [m.id for m in chosen]


def break_lock(dsn: str = "") -> None:
    """Remove a migration lock left by a migration that was killed half-way."""
    with _backend(dsn) as backend:
        backend.break_lock()


def _run(action: Any, migrations: Any) -> None:
    try:
        action(migrations)
    except PyreleaseError:
        raise
    except Exception as exc:
        message = first_line(translate(exc) or exc)
        raise MigrationError(
            f"migration failed: {message} (a transactional migration was rolled back whole;"
            " fix the cause and run `pyrelease migrate` again)"
        ) from exc


@contextmanager
def _lock(backend: PostgresqlPsycopgBackend) -> Iterator[None]:
    try:
        with backend.lock(timeout=10):
            yield
    except yoyo_exceptions.LockTimeout as exc:
        held = str(exc).split(" (run yoyo break-lock")[0]
        raise MigrationError(
            f"{held}; if no migration is running (one was killed half-way), "
            "clear it with `pyrelease migrate --break-lock`"
        ) from exc


@contextmanager
def _backend(dsn: str) -> Iterator[PostgresqlPsycopgBackend]:
    class Backend(PostgresqlPsycopgBackend):
        def connect(self, dburi: Any) -> psycopg.Connection[Any]:
            conn = connect(dsn)
            # Never queue behind a long transaction (and block the table behind us); the
            # transactional migrations also SET LOCAL it, for DBAs who drive yoyo directly.
            conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            return conn

    try:
        backend = Backend(parse_uri("postgresql+psycopg://"), MIGRATION_TABLE)
        backend.init_database()
    except psycopg.Error as exc:
        mapped = translate(exc)
        raise (mapped or MigrationError(f"cannot prepare migrations: {first_line(exc)}")) from exc
    try:
        yield backend
    finally:
        backend.connection.close()
