"""The configuration matrix: the same behaviours proven on every supported set-up.

Configurations (fixture ``cfg``, parametrized, one database each, built once per session; a
configuration that needs a server of its own names it in ``SERVER_OF``, from
pgserver.CONFIGURATIONS):

* ``superuser``: the owner is the superuser; pg_cron in ``postgres``.
* ``owner``: a login role with no SUPERUSER, CREATEROLE or CREATEDB, holding exactly what
  ``pyrelease grants --owner ROLE`` prints (run as superuser with psql, verbatim); it
  migrates, schedules and owns the job, and pg_cron's ticks run as it.
* ``german``: ``ALTER DATABASE ... SET lc_messages = 'de_DE.UTF-8'`` (translated messages).
* ``cron_in_app``: ``cron.database_name`` is the application database (a second server).
* ``background_workers``: ``cron.use_background_workers = on`` (a third server).
* ``pgbouncer_transaction``, ``pgbouncer_session``: the application's connections (the API,
  `status`, `schedule`) go through a real PgBouncer 1.18 in that pooling mode; the DBA
  migrates on a direct connection (docs/pgbouncer.md).
* ``superuser_cron16``, ``owner_cron16``: ``superuser`` and ``owner`` on pg_cron 1.6 (what the
  managed services run), built by scripts/setup.sh in a copy of the same PostgreSQL (a server
  of their own; Debian's pg_cron 1.4.2 stays the default of every other test).

The real ticks run concurrently: the session fixture ``ticks`` schedules every
configuration's job (every minute; every 10 seconds on pg_cron 1.6) and its purge job at once,
and each configuration's tick test only waits for its own, so the matrix costs one pg_cron
minute, not seven.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pgbouncer import available as pgbouncer_available
from pgbouncer import pgbouncer
from pgserver import PG_BINDIR, Server, new_db_name
from psycopg import sql
from psycopg.conninfo import make_conninfo

import pyrelease
from pyrelease.cron import JOB_NAME

GERMAN = "de_DE.UTF-8"
NAMES = (
    "superuser",
    "owner",
    "german",
    "cron_in_app",
    "background_workers",
    "pgbouncer_transaction",
    "pgbouncer_session",
    "superuser_cron16",
    "owner_cron16",
)
SERVER_OF = {
    "cron_in_app": "cron_in_app",
    "background_workers": "background_workers",
    "superuser_cron16": "cron16",
    "owner_cron16": "cron16",
}
"""The configurations that need a server of their own (pgserver.CONFIGURATIONS' names)."""
TICK_EVERY = {"superuser_cron16": "10 seconds", "owner_cron16": "10 seconds"}
"""The ticks' schedule where pg_cron runs it in seconds (1.5 and later); else every minute."""
OLD_RUN = "40 days"
"""The age of the run history the purge must trim (the default retention is 30 days)."""


@dataclass
class Config:
    name: str
    server: Server
    dbname: str
    dsn: str
    """As the owner (the role that migrates, owns the objects and the job)."""
    admin_dsn: str
    """Superuser, same database."""
    role: str | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)


def _german_locale_available() -> bool:
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return False
    return any(line.lower().replace("-", "") == "de_de.utf8" for line in out.splitlines())


def _psql() -> str | None:
    candidate = PG_BINDIR / "psql"
    return str(candidate) if candidate.exists() else shutil.which("psql")


def _new_database(server: Server, prefix: str) -> tuple[str, Callable[[], None]]:
    name = new_db_name(prefix)
    server.create_database(name)
    return name, lambda: server.drop_database(name)


def _grants_output(role: str, dsn: str, cron_database: str) -> str:
    from pyrelease.cli import main

    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"pyrelease-grants-{uuid.uuid4().hex}.sql"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["--dsn", dsn, "grants", "--owner", role, "--cron-database", cron_database])
    assert code == 0
    out.write_text(buf.getvalue())
    return str(out)


def _build(name: str, request: pytest.FixtureRequest) -> Config:
    server = request.getfixturevalue("servers")(SERVER_OF.get(name, "default"))
    request.getfixturevalue("template_db")  # the shared roles exist (as on a used server)
    if name == "cron_in_app":
        dbname = server.cron_database
        admin = server.dsn_for(dbname)
        pyrelease.rollback(admin, steps="all")
        cfg = Config(name, server, dbname, admin, admin)
        cfg.cleanup.append(lambda: pyrelease.rollback(admin, steps="all"))
    else:
        dbname, drop = _new_database(server, f"pyrelease_matrix_{name}")
        admin = server.dsn_for(dbname)
        cfg = Config(name, server, dbname, admin, admin)
        cfg.cleanup.append(drop)
    if name == "german":
        if not _german_locale_available():
            pytest.skip(f"locale {GERMAN} is not built (make setup builds it)")
        with server.admin() as c:
            c.execute(
                sql.SQL("ALTER DATABASE {} SET lc_messages = {}").format(
                    sql.Identifier(dbname), sql.Literal(GERMAN)
                )
            )
    if name.startswith("owner"):
        psql = _psql()
        if psql is None:
            pytest.skip("psql is not installed")
        role = f"pyrelease_matrix_owner_{uuid.uuid4().hex[:8]}"
        password = uuid.uuid4().hex
        with server.admin() as c:
            c.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}"
                ).format(sql.Identifier(role), sql.Literal(password))
            )

        def drop_role() -> None:
            for db in (server.cron_database, "postgres"):
                with psycopg.connect(server.dsn_for(db), autocommit=True) as c:
                    c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            with server.admin() as c:
                c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))

        cfg.cleanup.append(drop_role)
        script = _grants_output(role, admin, server.cron_database)
        try:
            done = subprocess.run(
                [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", admin, "-f", script],
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            os.unlink(script)
        assert done.returncode == 0, done.stderr
        cfg.role = role
        cfg.dsn = make_conninfo(admin, user=role, password=password)
    direct = cfg.dsn
    pyrelease.migrate(direct)
    # migrate registered the */5 job: no tick may run under the other tests' feet; the
    # `ticks` fixture schedules it again, every minute
    pyrelease.unschedule(direct)
    if name.startswith("pgbouncer_"):
        if not pgbouncer_available():
            pytest.skip("pgbouncer is not installed (make setup installs it)")
        pooler = contextlib.ExitStack()
        cfg.dsn = pooler.enter_context(pgbouncer(direct, name.removeprefix("pgbouncer_")))
        cfg.cleanup.append(pooler.close)
    cfg.cleanup.insert(0, lambda: _quiet(pyrelease.unschedule, cfg.dsn))
    cfg.cleanup.insert(1, lambda: _quiet(pyrelease.rollback, direct, steps="all"))
    return cfg


def _quiet(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(Exception):
        func(*args, **kwargs)


@pytest.fixture(scope="session")
def configs(request: pytest.FixtureRequest) -> Iterator[dict[str, Config | BaseException]]:
    """Every configuration, built on first use (a configuration that cannot be built on this
    machine keeps its skip reason)."""
    built: dict[str, Config | BaseException] = {}
    yield built
    for cfg in built.values():
        if isinstance(cfg, Config):
            for step in cfg.cleanup:
                _quiet(step)


def _config(name: str, configs: dict[str, Any], request: pytest.FixtureRequest) -> Config:
    if name not in configs:
        try:
            configs[name] = _build(name, request)
        except (pytest.skip.Exception, Exception) as exc:
            configs[name] = exc
    found = configs[name]
    if isinstance(found, pytest.skip.Exception):
        pytest.skip(str(found))
    if isinstance(found, BaseException):
        raise found
    return found


@pytest.fixture(params=NAMES)
def cfg(request: pytest.FixtureRequest, configs: dict[str, Any]) -> Config:
    return _config(request.param, configs, request)


@dataclass
class Tick:
    property_id: uuid.UUID
    project_id: uuid.UUID
    jobid: int
    deadline: float
    schedule: str
    old_runid: int
    """A run of the release job OLD_RUN old in pg_cron's history, for the purge to trim."""
    purge_jobid: int | None
    """The purge job (None: pg_cron in the application database, the run purges itself)."""


@pytest.fixture(scope="session")
def ticks(request: pytest.FixtureRequest, configs: dict[str, Any]) -> dict[str, Tick | str]:
    """Each configuration's job scheduled every minute (every 10 seconds on pg_cron 1.6), all
    at once, with one expired reservation to release and a run OLD_RUN old in pg_cron's
    history; the purge job (the owner's, as pyrelease registered it) moved to the same
    schedule: the tick tests then wait concurrently."""
    from factories import make_project, make_properties, make_workspace

    out: dict[str, Tick | str] = {}
    for name in NAMES:
        try:
            cfg = _config(name, configs, request)
        except (pytest.skip.Exception, Exception) as exc:
            out[name] = f"configuration {name}: {exc}"
            continue
        every = TICK_EVERY.get(name, "* * * * *")
        try:
            with psycopg.connect(cfg.dsn, autocommit=True, prepare_threshold=None) as c:
                ws = make_workspace(c, name=f"tick {name}")
                project = make_project(c, ws)
                [prop] = make_properties(c, ws, project, 1, "RESERVED")
            job = pyrelease.schedule(cfg.dsn, cron=every)
            cron_dsn = cfg.server.dsn_for(cfg.server.cron_database)
            with psycopg.connect(cron_dsn, autocommit=True) as c:
                old = c.execute(  # as pg_cron writes it (its row security: the job's user)
                    "INSERT INTO cron.job_run_details (jobid, database, username, command,"
                    " status, start_time, end_time)"
                    " SELECT j.jobid, j.database, j.username, j.command, 'succeeded',"
                    "        now() - %s::interval, now() - %s::interval"
                    "   FROM cron.job AS j WHERE j.jobid = %s"
                    " RETURNING runid",
                    (OLD_RUN, OLD_RUN, job.jobid),
                ).fetchone()
                purge = c.execute(
                    "SELECT jobid FROM cron.job WHERE starts_with(jobname, %s) AND command LIKE %s",
                    (f"{JOB_NAME}-purge:", f"%(jobid = {job.jobid} OR%"),
                ).fetchone()
                if purge is not None:
                    c.execute("SELECT cron.alter_job(%s, schedule := %s)", (purge[0], every))
        except Exception as exc:  # reported by that configuration's tick test
            out[name] = f"setting up the tick failed: {exc}"
            continue
        assert old is not None
        out[name] = Tick(
            prop,
            project,
            job.jobid,
            time.monotonic() + 150,
            every,
            old[0],
            purge[0] if purge else None,
        )
    return out
