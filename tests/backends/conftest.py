"""The two back-ends every behavioural test here runs against: ``single`` (one PostgreSQL, the
session's server) and ``citus`` (a coordinator and two workers, see cluster.py for where
Citus comes from).

Fixtures: ``backend`` (parametrized over both: a :class:`Backend` whose database starts
empty), ``bconn`` (an autocommit connection to it); the Citus cluster ``citus``, ``cdb`` (a
migrated database distributed over both workers, shared by the session) and ``cconn`` (an
autocommit connection to it), which the Citus-only tests in citus/ use. Without Citus, the
``citus`` parameter and citus/ are left out with one line at the end of the run.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from backend import Backend, Conn
from cluster import (
    DBNAME,
    PG_BINDIR,
    SHARD_COUNT,
    Cluster,
    _citus_missing,
    _free_ports,
    _pkglibdir,
    _run,
)

import pyrelease

HERE = Path(__file__).resolve().parent
_SKIPPED = pytest.StashKey[str]()
BACKENDS = ("single", "citus")
# Every table of the schema, emptied before each test on the shared distributed database, so
# that each test starts, on both back-ends, from an empty migrated database.
TABLES = ", ".join(
    f"real_estate.{t}"
    for t in (
        "release_event",
        "release_event_purged",
        "release_run",
        "property",
        "project",
        "workspace",
    )
)


def _needs_citus(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("backend") == "citus":
        return True
    return HERE / "citus" in Path(str(item.path)).resolve().parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Decide once, at collection, whether Citus is installed; if not, leave the Citus tests
    out and say why in one line at the end of the run."""
    mine = [i for i in items if _needs_citus(i)]
    if not mine:
        return
    reason = _citus_missing()
    if reason is not None:
        config.hook.pytest_deselected(items=mine)
        items[:] = [i for i in items if i not in mine]
        config.stash[_SKIPPED] = f"{len(mine)} Citus tests skipped: {reason}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    line = config.stash.get(_SKIPPED, None)
    if line is not None:
        terminalreporter.write_line(f"tests/backends: {line}", yellow=True)


# ----------------------------------------------------------------------------- Citus cluster


@pytest.fixture(scope="session")
def citus() -> Iterator[Cluster]:
    reason = _citus_missing()
    if reason is not None:
        pytest.skip(f"Citus tests skipped: {reason}")
    preload = "citus,pg_cron" if (_pkglibdir() / "pg_cron.so").exists() else "citus"
    base = Path(tempfile.mkdtemp(prefix="pyrelease-citus-", dir="/tmp"))
    base.chmod(0o777)
    ports = _free_ports(3)
    cluster = Cluster(base, ports[0], ports[1:])
    started: list[Path] = []
    try:
        for port in ports:
            pgdata = base / f"node-{port}"
            _run(
                [
                    str(PG_BINDIR / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            )
            with (pgdata / "postgresql.conf").open("a") as conf:
                conf.write(
                    f"port = {port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{base}'\n"
                    f"shared_preload_libraries = '{preload}'\ncron.database_name = 'postgres'\n"
                    "cron.host = '127.0.0.1'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 80\nshared_buffers = 32MB\nmax_prepared_transactions = 40\n"
                    "citus.max_background_task_executors_per_node = 1\n"
                )
            _run(
                [
                    str(PG_BINDIR / "pg_ctl"),
                    "-D",
                    str(pgdata),
                    "-l",
                    str(base / f"{port}.log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
            started.append(pgdata)
        if "pg_cron" in preload:  # pg_cron on the coordinator, in its default database
            with psycopg.connect(cluster.dsn(), autocommit=True) as c:
                c.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        yield cluster
    finally:
        for pgdata in started:
            with contextlib.suppress(subprocess.CalledProcessError):
                _run(
                    [str(PG_BINDIR / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "-w", "stop"]
                )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def cdb(citus: Cluster) -> str:
    """DSN of a migrated database distributed over the two workers (SHARD_COUNT shards),
    without its release job (no tick may run under the tests' feet; the tick test schedules
    it)."""
    dsn = citus.create_database(DBNAME)
    pyrelease.migrate(dsn, schedule=False)
    pyrelease.distribute(dsn, shard_count=SHARD_COUNT)
    return dsn


@pytest.fixture
def cconn(cdb: str) -> Iterator[Conn]:
    with psycopg.connect(cdb, autocommit=True) as c:
        yield c


# ----------------------------------------------------------------------------- the back-ends


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "single":
        found = Backend("single", request.getfixturevalue("db"))
    else:
        found = Backend("citus", request.getfixturevalue("cdb"))
        with psycopg.connect(found.dsn, autocommit=True) as c:
            c.execute(f"TRUNCATE {TABLES}")
    try:
        yield found
    finally:
        for c in found.opened:
            with contextlib.suppress(Exception):
                c.close()


@pytest.fixture
def bconn(backend: Backend) -> Conn:
    """An autocommit connection to the back-end's database."""
    return backend.connect()
