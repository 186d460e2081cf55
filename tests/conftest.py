"""Test infrastructure: a PostgreSQL 15 server with pg_cron for the whole session.

Where the server comes from, in this order:

1. ``PYRELEASE_TEST_DSN`` (a superuser DSN) when set: kind ``"env"``.
2. A Docker engine that answers a ping (and testcontainers importable): a
   container built from ``tests/Dockerfile``: kind ``"docker"``.
3. A throwaway local cluster (``scripts/pgcluster.sh`` with ``PGRELEASE_PGDATA``
   pointing into a fresh temp dir, fsync off), stopped and deleted at the end of
   the session: kind ``"local"``.

``PYRELEASE_TEST_SERVER=local|docker`` skips the detection and forces a kind.

Fixtures: ``server``, ``server_cron_in_app``, ``template_db``, ``db`` (DSN of a migrated
database), ``conn`` (a connection to it), ``connect`` (a factory of connections to it),
``fresh_db`` (DSN of an empty database); see each docstring. Plain helpers (connect_to,
current_db, extra_database, migration_ids, closed_port, pg_cron jobs, rows) are in
factories.py.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from factories import connect_to, drop_jobs
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

REPO_ROOT = Path(__file__).resolve().parent.parent
PGCLUSTER = REPO_ROOT / "scripts" / "pgcluster.sh"
DOCKERFILE_DIR = Path(__file__).resolve().parent
DOCKER_IMAGE_TAG = "pyrelease-test-postgres:15"
TEMPLATE_DB = "pyrelease_template"
CRON_IN_APP_DB = "pyrelease_app"


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: slow test (e.g. waits for a real pg_cron tick)")
    # `timeout`, CI runners and the like stop pytest with SIGTERM: turn it into an
    # interrupt so that session fixtures still stop their servers and remove temp dirs.
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _sigterm_to_interrupt)


# --------------------------------------------------------------------------- server


def _url(params: dict[str, Any]) -> str:
    """Build a ``postgresql://`` URL from libpq keyword parameters."""
    params = {k: str(v) for k, v in params.items() if v not in (None, "")}
    q = urllib.parse.quote
    user = params.pop("user", "")
    password = params.pop("password", "")
    host = params.pop("host", "")
    port = params.pop("port", "")
    dbname = params.pop("dbname", "")
    auth = ""
    if user:
        auth = q(user, safe="")
        if password:
            auth += ":" + q(password, safe="")
        auth += "@"
    netloc = q(host, safe="") if host.startswith("/") else host
    if ":" in netloc and not netloc.startswith("["):  # bare IPv6 address
        netloc = f"[{netloc}]"
    if port:
        netloc += f":{port}"
    url = f"postgresql://{auth}{netloc}/{q(dbname, safe='')}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    return url


@dataclass
class Server:
    """A PostgreSQL server the tests may do anything with (superuser access)."""

    admin_dsn: str
    """Superuser URL to database ``postgres``."""
    kind: str
    """``"env"``, ``"docker"`` or ``"local"``."""
    cron_database: str = "postgres"
    """The server's ``cron.database_name``: never drop it or kill its sessions."""
    _close: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def dsn_for(self, dbname: str) -> str:
        """Superuser URL to database ``dbname`` on this server."""
        params = conninfo_to_dict(self.admin_dsn)
        params["dbname"] = dbname
        return _url(params)

    def close(self) -> None:
        if self._close is not None:
            close, self._close = self._close, None
            close()


def _admin_url(dsn: str) -> str:
    params = conninfo_to_dict(dsn)
    params["dbname"] = "postgres"
    return _url(params)


def _wait_ready(dsn: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(dsn, connect_timeout=5) as c:
                c.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _cron_database_of(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as c:
        try:
            row = c.execute("SELECT current_setting('cron.database_name', true)").fetchone()
        except psycopg.Error:
            return "postgres"
    return (row[0] if row else None) or "postgres"


def _wait_cron_launcher(dsn: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(dsn, autocommit=True) as c:
            row = c.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'"
            ).fetchone()
        if row and row[0] > 0:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def _postgres_container_class() -> Any:
    try:  # testcontainers >= 4.14
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        from testcontainers.postgres import PostgresContainer
    return PostgresContainer


def _docker_available() -> bool:
    try:
        import docker

        _postgres_container_class()
    except Exception:
        return False
    try:
        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _server_kind() -> str:
    forced = os.environ.get("PYRELEASE_TEST_SERVER", "").strip().lower()
    if forced in ("local", "docker"):
        return forced
    if forced not in ("", "auto"):
        raise pytest.UsageError(
            f"PYRELEASE_TEST_SERVER must be local, docker or auto, not {forced!r}"
        )
    return "docker" if _docker_available() else "local"


# ---- local: scripts/pgcluster.sh in a temp dir


def _run_pgcluster(args: list[str], pgdata: Path) -> str:
    env = dict(os.environ, PGRELEASE_PGDATA=str(pgdata))
    done = subprocess.run(
        ["bash", str(PGCLUSTER), *args],
        env=env,
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"scripts/pgcluster.sh {' '.join(args)} failed ({done.returncode}):\n"
            f"{done.stdout}{done.stderr}"
        )
    return done.stdout.strip()


LOCAL_PREFIX = "pyrelease-test-"
OWNER_FILE = "pyrelease-test-owner.pid"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("State:"):
                return line.split()[1] not in ("Z", "X")
    return True


def _reap_stale_local_clusters() -> None:
    """Stop and remove the clusters of earlier test sessions that were killed."""
    for base in Path("/tmp").glob(LOCAL_PREFIX + "*"):
        try:
            pid = int((base / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if pid == os.getpid() or _pid_alive(pid):
            continue
        with contextlib.suppress(Exception):
            _run_pgcluster(["stop"], base / "pgdata")
        shutil.rmtree(base, ignore_errors=True)


def _start_local(cron_db: str) -> Server:
    if not PGCLUSTER.exists():
        pytest.fail(f"{PGCLUSTER} is missing")
    _reap_stale_local_clusters()
    base = Path(tempfile.mkdtemp(prefix=LOCAL_PREFIX, dir="/tmp"))
    (base / OWNER_FILE).write_text(f"{os.getpid()}\n")
    base.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    pgdata = base / "pgdata"

    def close() -> None:
        try:
            _run_pgcluster(["stop"], pgdata)
        finally:
            shutil.rmtree(base, ignore_errors=True)

    try:
        _run_pgcluster(["start", "--throwaway", "--cron-db", cron_db], pgdata)
        admin = _run_pgcluster(["dsn"], pgdata)
    except BaseException:
        close()
        raise
    return Server(admin_dsn=admin, kind="local", cron_database=cron_db, _close=close)


# ---- docker: tests/Dockerfile via testcontainers

_docker_image_built = False


def _start_docker(cron_db: str) -> Server:
    global _docker_image_built
    import docker

    postgres_container = _postgres_container_class()

    if not _docker_image_built:
        client = docker.from_env()
        try:
            client.images.build(
                path=str(DOCKERFILE_DIR), dockerfile="Dockerfile", tag=DOCKER_IMAGE_TAG, rm=True
            )
        finally:
            client.close()
        _docker_image_built = True

    # The entrypoint creates POSTGRES_DB before the real server starts, so the
    # cron database exists when pg_cron's launcher looks for it.
    container = postgres_container(
        DOCKER_IMAGE_TAG,
        username="postgres",
        password="postgres",
        dbname=cron_db,
        driver=None,
    ).with_command(
        "postgres -c shared_preload_libraries=pg_cron"
        f" -c cron.database_name={cron_db} -c max_connections=200"
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    container.start()
    try:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(5432)
        admin = _url(
            {
                "user": "postgres",
                "password": "postgres",
                "host": host,
                "port": port,
                "dbname": "postgres",
            }
        )
        server = Server(
            admin_dsn=admin, kind="docker", cron_database=cron_db, _close=container.stop
        )
        _wait_ready(admin)
        with psycopg.connect(server.dsn_for(cron_db), autocommit=True) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        if not _wait_cron_launcher(admin):
            raise RuntimeError("pg_cron launcher is not running in the test container")
    except BaseException:
        container.stop()
        raise
    return server


def _provision(cron_db: str) -> Server:
    if _server_kind() == "docker":
        return _start_docker(cron_db)
    return _start_local(cron_db)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """The session's PostgreSQL server (pg_cron in database ``postgres``)."""
    env_dsn = os.environ.get("PYRELEASE_TEST_DSN")
    if env_dsn:
        admin = _admin_url(env_dsn)
        yield Server(admin_dsn=admin, kind="env", cron_database=_cron_database_of(admin))
        return
    srv = _provision("postgres")
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="session")
def server_cron_in_app() -> Iterator[Server]:
    """A second server whose ``cron.database_name`` is ``pyrelease_app``.

    Database ``pyrelease_app`` exists with the pg_cron extension in it. Started
    only for the tests that ask for it. With ``PYRELEASE_TEST_DSN`` set, uses
    ``PYRELEASE_TEST_DSN_CRON_IN_APP`` or skips.
    """
    if os.environ.get("PYRELEASE_TEST_DSN"):
        env_dsn = os.environ.get("PYRELEASE_TEST_DSN_CRON_IN_APP")
        if not env_dsn:
            pytest.skip(
                "PYRELEASE_TEST_DSN is set but PYRELEASE_TEST_DSN_CRON_IN_APP is not"
                " (a server with cron.database_name = 'pyrelease_app')"
            )
        admin = _admin_url(env_dsn)
        yield Server(admin_dsn=admin, kind="env", cron_database=_cron_database_of(admin))
        return
    srv = _provision(CRON_IN_APP_DB)
    try:
        yield srv
    finally:
        srv.close()


# --------------------------------------------------------------------------- databases


def _admin_connect(srv: Server) -> psycopg.Connection[Any]:
    return psycopg.connect(srv.admin_dsn, autocommit=True)


def _drop_database(srv: Server, name: str) -> None:
    if name in (srv.cron_database, "postgres", "template0", "template1"):
        raise ValueError(f"refusing to drop database {name!r}")
    with _admin_connect(srv) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _create_database(srv: Server, name: str, template: str | None = None) -> None:
    stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        stmt += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with _admin_connect(srv) as c:
        for attempt in itertools.count():
            try:
                c.execute(stmt)
                return
            except psycopg.errors.ObjectInUse:
                # "source database is being accessed by other users": a session
                # on the template (never the cron database) still closing.
                if not template or template == srv.cron_database or attempt >= 20:
                    raise
                c.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (template,),
                )
                time.sleep(0.1)


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

    _drop_database(server, TEMPLATE_DB)
    _create_database(server, TEMPLATE_DB)
    dsn = server.dsn_for(TEMPLATE_DB)
    pyrelease.migrate(dsn)
    # No pg_cron job may connect to the template, or CREATE DATABASE ... TEMPLATE fails.
    try:
        pyrelease.unschedule(dsn)
    except Exception:
        if _has_pg_cron(server):
            raise
    return TEMPLATE_DB


_db_counter = itertools.count(1)


def _new_db_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_db_counter)}"


@pytest.fixture
def db(server: Server, template_db: str) -> Iterator[str]:
    """DSN of a new database ``pyrelease_test_<n>`` cloned from the template (migrated, no
    pg_cron job); dropped after, with any job a test registered for it."""
    name = _new_db_name("pyrelease_test")
    _drop_database(server, name)
    _create_database(server, name, template=template_db)
    try:
        yield server.dsn_for(name)
    finally:
        drop_jobs(server, name)
        _drop_database(server, name)


@pytest.fixture
def fresh_db(server: Server) -> Iterator[str]:
    """DSN of a new EMPTY database (from template0, not migrated); dropped after, with any
    pg_cron job a test (or migrating it) registered for it."""
    name = _new_db_name("pyrelease_fresh")
    _drop_database(server, name)
    _create_database(server, name, template="template0")
    try:
        yield server.dsn_for(name)
    finally:
        drop_jobs(server, name)
        _drop_database(server, name)


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
