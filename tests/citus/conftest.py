"""Fixtures of the Citus cluster tests (see cluster.py for where Citus comes from)."""

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Decide once, at collection, whether Citus is installed; if not, leave the cluster tests
    out and say why in one line at the end of the run."""
    mine = [i for i in items if HERE in Path(str(i.path)).resolve().parents]
    if not mine:
        return
    reason = _citus_missing()
    if reason is not None:
        config.hook.pytest_deselected(items=mine)
        items[:] = [i for i in items if i not in mine]
        config.stash[_SKIPPED] = f"{len(mine)} Citus cluster tests skipped: {reason}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    line = config.stash.get(_SKIPPED, None)
    if line is not None:
        terminalreporter.write_line(f"tests/citus: {line}", yellow=True)


@pytest.fixture(scope="session")
def citus() -> Iterator[Cluster]:
    reason = _citus_missing()
    if reason is not None:
        pytest.skip(f"Citus cluster tests skipped: {reason}")
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
    """DSN of a migrated database distributed over the two workers (SHARD_COUNT shards)."""
    dsn = citus.create_database(DBNAME)
    pyrelease.migrate(dsn)
    pyrelease.distribute(dsn, shard_count=SHARD_COUNT)
    return dsn


@pytest.fixture
def cconn(cdb: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(cdb, autocommit=True) as c:
        yield c
