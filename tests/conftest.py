"""Test fixtures: PostgreSQL servers (pgserver.py chooses them), a template database migrated
once per session, and a clone of it per test.

Fixtures: ``servers`` (``servers(name)``: the server of a configuration of
pgserver.CONFIGURATIONS), ``server`` (the session's server), ``server_cron_in_app``,
``template_db``, ``db`` (DSN of a migrated database), ``conn`` (a connection to it),
``connect`` (a factory of connections to it), ``fresh_db`` (DSN of an empty database); see
each docstring. Plain helpers (connect_to, current_db, extra_database, migration_ids,
closed_port, pg_cron jobs, rows) are in factories.py.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from factories import connect_to, drop_jobs
from pgserver import (
    CONFIGURATIONS,
    PG_BINDIR,
    Server,
    from_environment,
    new_db_name,
    start_server,
)

TEMPLATE_DB = "pyrelease_template"


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    # `timeout`, CI runners and the like stop pytest with SIGTERM: turn it into an
    # interrupt so that session fixtures still stop their servers and remove temp dirs.
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _sigterm_to_interrupt)


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="session")
def servers() -> Iterator[Callable[[str], Server]]:
    """``servers(name)``: the server of configuration ``name`` (pgserver.CONFIGURATIONS),
    started on first use, stopped at the end of the session. ``default`` comes from the libpq
    environment when it names one; the others are throwaway local clusters (skipped when
    this machine has no PostgreSQL binaries)."""
    started: dict[str, Server | BaseException] = {}

    def get(name: str) -> Server:
        if name not in started:
            options = CONFIGURATIONS[name]
            bindir = options.get("bindir", PG_BINDIR)
            try:
                if name == "default" and (env := from_environment()):
                    started[name] = env
                elif name != "default" and not (bindir / "postgres").exists():
                    pytest.skip(f"server {name}: no PostgreSQL in {bindir} (make setup)")
                else:
                    started[name] = start_server(**options)
            except (pytest.skip.Exception, Exception) as exc:
                started[name] = exc
        server = started[name]
        if isinstance(server, BaseException):
            raise server
        return server

    try:
        yield get
    finally:
        for server in started.values():
            if isinstance(server, Server):
                server.close()


@pytest.fixture(scope="session")
def server(servers: Callable[[str], Server]) -> Server:
    """The session's PostgreSQL server (pg_cron in database ``postgres``, unless the
    environment's server says otherwise)."""
    return servers("default")


@pytest.fixture(scope="session")
def server_cron_in_app(servers: Callable[[str], Server]) -> Server:
    """A second server whose ``cron.database_name`` is ``pyrelease_app`` (that database
    exists, with the pg_cron extension in it). Started only for the tests that ask for it."""
    return servers("cron_in_app")


# --------------------------------------------------------------------------- databases


def _has_pg_cron(srv: Server) -> bool:
    try:
        with psycopg.connect(srv.dsn_for(srv.cron_database), autocommit=True) as c:
            return (
                c.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_cron'").fetchone()
                is not None
            )
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def template_db(server: Server) -> str:
    """Database ``pyrelease_template``: migrated, release job unscheduled. Returns its name."""
    import pyrelease

    server.drop_database(TEMPLATE_DB)
    server.create_database(TEMPLATE_DB)
    dsn = server.dsn_for(TEMPLATE_DB)
    pyrelease.migrate(dsn)
    # No pg_cron job may connect to the template, or CREATE DATABASE ... TEMPLATE fails.
    try:
        pyrelease.unschedule(dsn)
    except Exception:
        if _has_pg_cron(server):
            raise
    return TEMPLATE_DB


@pytest.fixture
def db(server: Server, template_db: str) -> Iterator[str]:
    """DSN of a new database ``pyrelease_test_<n>`` cloned from the template (migrated, no
    pg_cron job); dropped after, with any job a test registered for it."""
    name = new_db_name("pyrelease_test")
    server.drop_database(name)
    server.create_database(name, template=template_db)
    try:
        yield server.dsn_for(name)
    finally:
        drop_jobs(server, name)
        server.drop_database(name)


@pytest.fixture
def fresh_db(server: Server) -> Iterator[str]:
    """DSN of a new EMPTY database (from template0, not migrated); dropped after, with any
    pg_cron job a test (or migrating it) registered for it."""
    name = new_db_name("pyrelease_fresh")
    server.drop_database(name)
    server.create_database(name, template="template0")
    try:
        yield server.dsn_for(name)
    finally:
        drop_jobs(server, name)
        server.drop_database(name)


@pytest.fixture
def connect(db: str) -> Iterator[Callable[..., psycopg.Connection[Any]]]:
    """Factory ``connect(autocommit=True, **kwargs)`` of connections to ``db``, all closed after."""
    opened: list[psycopg.Connection[Any]] = []

    def _connect(autocommit: bool = True, **kwargs: Any) -> psycopg.Connection[Any]:
        c = connect_to(db, autocommit=autocommit, **kwargs)
        opened.append(c)
        return c

    try:
        yield _connect
    finally:
        for c in opened:
            with contextlib.suppress(Exception):
                c.close()


@pytest.fixture
def conn(db: str) -> Iterator[psycopg.Connection[Any]]:
    """A psycopg connection (autocommit) to ``db``, closed after."""
    c = connect_to(db)
    try:
        yield c
    finally:
        c.close()
