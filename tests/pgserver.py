"""The tests' PostgreSQL servers, chosen in one place.

The session's server (configuration ``default``) is the one the libpq environment names
(``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, or a URL in ``PYRELEASE_TEST_DSN``): a
superuser login to a PostgreSQL 15 with pg_cron preloaded. When none of them is set, it is a
throwaway local cluster. Every other configuration needs server settings of its own, so it is
always a throwaway local cluster: ``start_server(**CONFIGURATIONS[name])``. A new one (other
binaries, another setting) is one entry in ``CONFIGURATIONS``; the ``servers`` fixture
starts it on first use and stops it at the end of the session.

Throwaway clusters are ``scripts/pgcluster.sh start --throwaway`` in a folder of their own
under /tmp (the postgres OS user must enter it), on a free port, fsync off; a later session
removes the ones a killed session left behind.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

REPO = Path(__file__).resolve().parent.parent
PGCLUSTER = REPO / "scripts" / "pgcluster.sh"
PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))
# pg_cron 1.6 in a copy of the same PostgreSQL (scripts/setup.sh's pg_cron16 step)
PG_CRON16_BINDIR = (
    Path(os.environ.get("PG_CRON16_PREFIX", "/opt/pg15-cron16")) / "usr/lib/postgresql/15/bin"
)
ENVIRONMENT = ("PYRELEASE_TEST_DSN", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD")
CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "cron_in_app": {"cron_database": "pyrelease_app"},
    "background_workers": {
        "settings": {"cron.use_background_workers": "on", "max_worker_processes": 32}
    },
    "cron16": {"bindir": PG_CRON16_BINDIR},
    "cron16_berlin": {"bindir": PG_CRON16_BINDIR, "settings": {"cron.timezone": "Europe/Berlin"}},
}
TEMP_PREFIX = "pyrelease-test-"
OWNER_FILE = "pyrelease-test-owner.pid"


def url(params: dict[str, Any]) -> str:
    """A ``postgresql://`` URL from libpq keyword parameters."""
    params = {k: str(v) for k, v in params.items() if v not in (None, "")}
    q = urllib.parse.quote
    user, password = params.pop("user", ""), params.pop("password", "")
    dbname = params.pop("dbname", "")
    auth = q(user, safe="") + (":" + q(password, safe="") if password else "") + "@" if user else ""
    netloc = ""
    if not params.get("host", "").startswith("/"):  # (a socket folder stays a parameter)
        host, port = params.pop("host", ""), params.pop("port", "")
        netloc = f"[{host}]" if ":" in host and not host.startswith("[") else host  # IPv6
        netloc += f":{port}" if port else ""
    query = "?" + urllib.parse.urlencode(params) if params else ""
    return f"postgresql://{auth}{netloc}/{q(dbname, safe='')}{query}"


@dataclass
class Server:
    """A PostgreSQL server the tests may do anything with (superuser access)."""

    admin_dsn: str
    """Superuser URL to database ``postgres``."""
    cron_database: str = "postgres"
    """The server's ``cron.database_name``: never drop it or kill its sessions."""
    pgdata: Path | None = field(default=None, repr=False)
    """A throwaway cluster's data directory (None: a server from the environment)."""
    bindir: Path = field(default=PG_BINDIR, repr=False)

    def dsn_for(self, dbname: str) -> str:
        """Superuser URL to database ``dbname`` on this server."""
        return url({**conninfo_to_dict(self.admin_dsn), "dbname": dbname})

    def admin(self) -> psycopg.Connection[Any]:
        """An autocommit superuser connection to database ``postgres``; close it."""
        return psycopg.connect(self.admin_dsn, autocommit=True)

    def create_database(self, name: str, template: str | None = None) -> None:
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self.admin() as c:
            for attempt in itertools.count():
                try:
                    c.execute(stmt)
                    return
                except psycopg.errors.ObjectInUse:
                    # "source database is being accessed by other users": a session on the
                    # template (never the cron database) still closing
                    if not template or template == self.cron_database or attempt >= 20:
                        raise
                    c.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = %s AND pid <> pg_backend_pid()",
                        (template,),
                    )
                    time.sleep(0.1)

    def drop_database(self, name: str) -> None:
        if name in (self.cron_database, "postgres", "template0", "template1"):
            raise ValueError(f"refusing to drop database {name!r}")
        with self.admin() as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def pgcluster(self, *args: str) -> str:
        """Run scripts/pgcluster.sh on this throwaway cluster; its output."""
        assert self.pgdata is not None, "not a throwaway cluster"
        done = subprocess.run(
            ["bash", str(PGCLUSTER), *args],
            env={**os.environ, "PGRELEASE_PGDATA": str(self.pgdata), "PG_BINDIR": str(self.bindir)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pgcluster.sh {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout.strip()

    def close(self) -> None:
        """Stop and delete a throwaway cluster (nothing for a server from the environment)."""
        if self.pgdata is not None and self.pgdata.parent.exists():
            try:
                self.pgcluster("stop")
            finally:
                shutil.rmtree(self.pgdata.parent, ignore_errors=True)


_db_counter = itertools.count(1)


def new_db_name(prefix: str) -> str:
    """A database name no other test of any session on the server uses."""
    return f"{prefix}_{os.getpid()}_{next(_db_counter)}"


def from_environment() -> Server | None:
    """The server the libpq environment names, or None when it names none."""
    if not any(os.environ.get(v) for v in ENVIRONMENT):
        return None
    dsn = os.environ.get("PYRELEASE_TEST_DSN", "")
    with psycopg.connect(dsn, dbname="postgres") as c:
        row = c.execute("SELECT current_setting('cron.database_name', true)").fetchone()
        info = c.info  # (not get_parameters(): pg_dump's older libpq must read these URLs too)
        params = {**conninfo_to_dict(dsn), "host": info.host, "port": info.port}
        params |= {"user": info.user, "password": info.password, "dbname": "postgres"}
    return Server(url(params), (row[0] if row else None) or "postgres")


def start_server(
    *,
    cron_database: str = "postgres",
    settings: dict[str, Any] | None = None,
    bindir: Path = PG_BINDIR,
) -> Server:
    """A throwaway local cluster with pg_cron in ``cron_database``, these server ``settings``,
    from the PostgreSQL binaries in ``bindir``; ``close()`` it."""
    _remove_abandoned_clusters()
    base = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir="/tmp"))
    (base / OWNER_FILE).write_text(f"{os.getpid()}\n")
    base.chmod(0o755)
    server = Server("", cron_database, pgdata=base / "pgdata", bindir=bindir)
    options = [a for k, v in (settings or {}).items() for a in ("--set", f"{k}={v}")]
    try:
        server.pgcluster("start", "--throwaway", "--cron-db", cron_database, *options)
        server.admin_dsn = server.pgcluster("dsn")
    except BaseException:
        server.close()
        raise
    return server


def _remove_abandoned_clusters() -> None:
    """Stop and remove the clusters of earlier sessions that were killed."""
    for base in Path("/tmp").glob(TEMP_PREFIX + "*"):
        try:  # (no owner yet: a session that is creating it)
            owner = Path(f"/proc/{int((base / OWNER_FILE).read_text())}/status")
        except (OSError, ValueError):
            continue
        with contextlib.suppress(OSError):
            if "\nState:\tZ" not in owner.read_text():
                continue  # its session runs
        with contextlib.suppress(Exception):
            Server("", pgdata=base / "pgdata").close()
