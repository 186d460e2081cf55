"""A local Citus cluster for the scale-out tests: a coordinator and two workers.

Started once per session on free ports in a temp dir of its own (fsync off), removed at
the end. It needs Citus installed in the PostgreSQL of ``PG_BINDIR`` (``citus.so`` in its
pkglibdir): ``make setup`` builds it from ``../shared/citus`` (or ``$PYRELEASE_SHARED/citus``)
when the machine lacks it; without it every test here is skipped, with one line saying why.

Fixtures: ``citus`` (the cluster), ``cdb`` (a migrated, distributed database on it, shared by
the session: tests use workspaces of their own), ``cconn`` (an autocommit connection to it),
in conftest.py; the helpers are here.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg

PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))
DBNAME = "pyrelease_citus"
SHARD_COUNT = 4  # per table: 2 shard groups per worker, enough to spread workspaces


@dataclass
class Cluster:
    base: Path
    coordinator_port: int
    worker_ports: list[int]

    def dsn(self, dbname: str = "postgres", port: int | None = None) -> str:
        port = port or self.coordinator_port
        return f"postgresql://postgres@127.0.0.1:{port}/{dbname}"

    @property
    def ports(self) -> list[int]:
        return [self.coordinator_port, *self.worker_ports]

    def create_database(self, dbname: str, add_workers: bool = True, citus: bool = True) -> str:
        """A database on every node, with Citus in it and (add_workers) the workers added."""
        for port in self.ports:
            with psycopg.connect(self.dsn(port=port), autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
                c.execute(f'CREATE DATABASE "{dbname}"')
            if citus:
                with psycopg.connect(self.dsn(dbname, port), autocommit=True) as c:
                    c.execute("CREATE EXTENSION citus")
        if citus and add_workers:
            with psycopg.connect(self.dsn(dbname), autocommit=True) as c:
                c.execute(
                    "SELECT citus_set_coordinator_host('127.0.0.1', %s)", (self.coordinator_port,)
                )
                for port in self.worker_ports:
                    c.execute("SELECT citus_add_node('127.0.0.1', %s)", (port,))
        return self.dsn(dbname)


def _pkglibdir() -> Path:
    try:
        out = subprocess.run(
            [str(PG_BINDIR / "pg_config"), "--pkglibdir"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return Path(out)
    except (OSError, subprocess.CalledProcessError):
        return PG_BINDIR.parent / "lib"


def _citus_missing() -> str | None:
    """None when Citus is installed; else the reason to skip (one line)."""
    if not (PG_BINDIR / "postgres").exists():
        return f"no PostgreSQL server in {PG_BINDIR} (set PG_BINDIR)"
    if (_pkglibdir() / "citus.so").exists():
        return None
    return f"Citus is not installed in {_pkglibdir()} (make setup builds it from ../shared/citus)"


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _as_server(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str]) -> None:
    subprocess.run(_as_server(cmd), check=True, capture_output=True, text=True, cwd="/")
