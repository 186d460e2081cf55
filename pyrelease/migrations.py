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

from .errors import DatabaseUnavailable, MigrationError, PyreleaseError, translate
from .install import post_apply

MIGRATION_TABLE = "_yoyo_migration"
LOCK_TIMEOUT = "10s"


def sql_dir(name: str) -> Path:
    """migrations/ or plpgsql/: inside the installed wheel, else beside the package."""
    packaged = Path(str(files("pyrelease"))) / "_sql" / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name


def migrate(dsn: str = "") -> list[str]:
    """Apply every pending migration, then the post-apply step (routines from plpgsql/, the
    job); return the migrations' ids (empty when up to date)."""
    with _backend(dsn) as backend, _lock(backend):
        pending = backend.to_apply(read_migrations(str(sql_dir("migrations"))))
        _run(backend.apply_migrations_only, pending)
        _run(post_apply, backend.connection)
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


def _run(action: Any, argument: Any) -> None:
    try:
        action(argument)
    except PyreleaseError:
        raise
    except Exception as exc:
        mapped = translate(exc)
        message = str(mapped) if mapped is not None else _first_line(exc)
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


class _Backend(PostgresqlPsycopgBackend):
    """yoyo's PostgreSQL backend on a libpq connection string.

    Not yoyo's public get_backend(URL): pyrelease accepts every libpq connection string
    (keyword form, service files, PG* variables), which a URL cannot always carry, so it
    overrides connect(), the one method yoyo calls to open the connection. The rest is
    yoyo's public backend API (lock, to_apply, apply_migrations_only, rollback_migrations).
    """

    dsn = ""

    def connect(self, dburi: Any) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.dsn, autocommit=True)
        # Never queue behind a long transaction (and block the table behind us); the
        # transactional migrations also SET LOCAL it, for DBAs who drive yoyo directly.
        conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        return conn


@contextmanager
def _backend(dsn: str) -> Iterator[PostgresqlPsycopgBackend]:
    # yoyo re-creates a backend from its class (copy() for each migration), so the DSN
    # travels as a class attribute of a per-call subclass.
    backend_class = type("Backend", (_Backend,), {"dsn": dsn})
    try:
        backend = backend_class(parse_uri("postgresql+psycopg://"), MIGRATION_TABLE)
        backend.init_database()
    except psycopg.Error as exc:
        mapped = translate(exc)
        raise (mapped or DatabaseUnavailable(_first_line(exc))) from exc
    try:
        yield backend
    finally:
        backend.connection.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
