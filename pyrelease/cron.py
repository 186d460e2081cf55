"""Register, inspect and remove the pg_cron job that runs the release.

Two real set-ups are supported:

* pg_cron lives in the application database (``cron.database_name`` is this database):
  the job is ``release-expired-reservations``, registered through the same connection,
  inside the caller's transaction.
* pg_cron lives in another database (the default, ``postgres``): the job is registered
  there with ``cron.schedule_in_database`` and carries the application database in its
  name (``release-expired-reservations:<database>``), so several application databases on
  one server each keep their own job. pg_cron's run history lives there too, so a second,
  daily job (``release-expired-reservations-purge:<database>``) trims it.

Registering is an upsert by name (``cron.alter_job`` on an existing job: re-scheduling by
name alone would keep an old database or a paused ``active`` flag).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from .db import connect
from .errors import (
    DatabaseUnavailable,
    InvalidArgument,
    NotMigrated,
    ScheduleError,
    require,
    translated,
)
from .queries import QUERIES

JOB_NAME = "release-expired-reservations"
DEFAULT_SCHEDULE = "*/5 * * * *"
DEFAULT_RETENTION = "30 days"
PURGE_SCHEDULE = "17 3 * * *"
MAX_JOB_NAME_BYTES = 63  # pg_cron keeps job names in a name column
DEFAULT_CRON_DATABASE = "postgres"

NO_PG_CRON = (
    "pg_cron is not available: no release schedule was created; "
    "add shared_preload_libraries = 'pg_cron' and cron.database_name to postgresql.conf, "
    "restart, run CREATE EXTENSION pg_cron in that database, then run `pyrelease schedule`"
    " (a role that is not superuser also needs pg_read_all_settings to find that database)"
)


@dataclass(frozen=True)
class CronSetup:
    """Where pg_cron runs, seen from the application database."""

    cron_database: str
    database: str

    @property
    def in_app_database(self) -> bool:
        return self.cron_database == self.database

    @property
    def job_name(self) -> str:
        return JOB_NAME if self.in_app_database else _name(JOB_NAME, self.database)

    @property
    def purge_job_name(self) -> str:
        return _name(f"{JOB_NAME}-purge", self.database)


def _name(prefix: str, database: str) -> str:
    """prefix:database, within pg_cron's 63-byte job names: a database name too long to fit
    is cut and ends in a hash of the whole name, so long names sharing a prefix stay apart."""
    name = f"{prefix}:{database}"
    if len(name.encode()) <= MAX_JOB_NAME_BYTES:
        return name
    digest = "~" + hashlib.sha256(database.encode()).hexdigest()[:8]
    room = MAX_JOB_NAME_BYTES - len(prefix) - 1 - len(digest)
    cut = database.encode()[:room].decode(errors="ignore")
    return f"{prefix}:{cut}{digest}"


@dataclass(frozen=True)
class Job:
    jobid: int
    name: str
    schedule: str
    command: str
    database: str
    active: bool
    cron_database: str


@dataclass(frozen=True)
class JobRun:
    runid: int
    status: str
    start_time: datetime | None
    end_time: datetime | None
    return_message: str | None


def cron_setup(conn: psycopg.Connection[Any]) -> CronSetup | None:
    """Where pg_cron runs, or None when it is not loaded or its extension is missing.

    The extension can only be created in cron.database_name, so finding it here settles it.
    Otherwise cron.database_name tells, when this role may read it (it is superuser-only
    unless the role has pg_read_all_settings); when it may not, pg_cron's default database
    is tried."""
    with translated():
        row = conn.execute(QUERIES["cron_settings"]).fetchone()
    assert row is not None
    here, readable, cron_database, database = row
    if here:
        return CronSetup(cron_database=database, database=database)
    if readable and not cron_database:
        return None
    setup = CronSetup(cron_database=cron_database or DEFAULT_CRON_DATABASE, database=database)
    if setup.in_app_database:
        return None
    try:
        with _cron_connection(conn, setup) as cron, translated():
            installed = cron.execute(QUERIES["cron_installed"]).fetchone()
    except DatabaseUnavailable:
        if readable:
            raise
        return None
    return setup if installed and installed[0] else None


def require_cron(conn: psycopg.Connection[Any]) -> CronSetup:
    setup = cron_setup(conn)
    if setup is None:
        raise ScheduleError(NO_PG_CRON)
    return setup


def schedule(
    conn: psycopg.Connection[Any],
    cron: str = DEFAULT_SCHEDULE,
    retention: str = DEFAULT_RETENTION,
) -> Job:
    """Create or update the release job (idempotent); return it."""
    require(cron, str, "cron")
    require(retention, str, "retention")
    setup = require_cron(conn)
    with translated():
        migrated = conn.execute(QUERIES["migrated"]).fetchone()
    if not (migrated and migrated[0]):
        raise NotMigrated(
            "real_estate.run_release_job does not exist: run `pyrelease migrate` first"
        )
    schedule_interval(cron)  # refuse what pg_cron 1.4 would misread (e.g. a 6th field)
    retention = _normalise_retention(conn, retention)
    command = "CALL real_estate.run_release_job()"
    if retention != DEFAULT_RETENTION:
        command = f"CALL real_estate.run_release_job(p_retention => {_literal(conn, retention)})"
    with _cron_connection(conn, setup) as cron_conn:
        job = _upsert(cron_conn, setup, setup.job_name, cron, command, setup.database)
        if not setup.in_app_database:
            names = sql.Literal([setup.job_name, setup.purge_job_name]).as_string(cron_conn)
            purge = (
                "DELETE FROM cron.job_run_details WHERE jobid IN (SELECT jobid FROM cron.job"
                f" WHERE jobname = ANY ({names}::text[]) AND username = current_user)"
                f" AND start_time < now() - interval {_literal(cron_conn, retention)}"
            )
            _upsert(
                cron_conn,
                setup,
                setup.purge_job_name,
                PURGE_SCHEDULE,
                purge,
                setup.cron_database,
            )
    return job


def unschedule(conn: psycopg.Connection[Any]) -> bool:
    """Remove this database's release job (and its purge job); True if there was one."""
    setup = require_cron(conn)
    removed = False
    with _cron_connection(conn, setup) as cron_conn:
        for name in (setup.job_name, setup.purge_job_name):
            job = _find(cron_conn, setup, name)
            if job is not None:
                with translated():
                    cron_conn.execute(QUERIES["unschedule_job"], {"jobid": job.jobid})
                removed = removed or name == setup.job_name
    return removed


def schedule_database(
    dsn: str = "", cron: str = DEFAULT_SCHEDULE, retention: str = DEFAULT_RETENTION
) -> Job:
    """schedule() on its own connection to the database at `dsn` (pyrelease.schedule)."""
    with connect(dsn) as conn:
        return schedule(conn, cron, retention)


def unschedule_database(dsn: str = "") -> bool:
    """unschedule() on its own connection to the database at `dsn` (pyrelease.unschedule)."""
    with connect(dsn) as conn:
        return unschedule(conn)


def job(conn: psycopg.Connection[Any]) -> Job | None:
    """This database's release job, or None (pg_cron missing or no job)."""
    setup = cron_setup(conn)
    if setup is None:
        return None
    with _cron_connection(conn, setup) as cron_conn:
        return _find(cron_conn, setup, setup.job_name)


def job_runs(conn: psycopg.Connection[Any], found: Job, limit: int = 5) -> list[JobRun]:
    """The latest runs of the job as pg_cron recorded them, newest first."""
    setup = CronSetup(cron_database=found.cron_database, database=found.database)
    with _cron_connection(conn, setup) as cron_conn, translated():
        rows = cron_conn.execute(QUERIES["job_runs"], {"jobid": found.jobid, "limit": limit})
        return [JobRun(*row) for row in rows.fetchall()]


def _upsert(
    cron_conn: psycopg.Connection[Any],
    setup: CronSetup,
    name: str,
    cron: str,
    command: str,
    database: str,
) -> Job:
    existing = _find(cron_conn, setup, name)
    params = {"jobname": name, "schedule": cron, "command": command, "database": database}
    try:
        with translated():
            if existing is None:
                cron_conn.execute(QUERIES["schedule_job"], params)
            else:
                cron_conn.execute(QUERIES["alter_job"], {**params, "jobid": existing.jobid})
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0]
        if exc.sqlstate == "22023" and "invalid schedule" in message:
            raise InvalidArgument(f"invalid cron expression {cron!r}: {message}") from exc
        raise ScheduleError(f"pg_cron refused the job {name!r}: {message}") from exc
    found = _find(cron_conn, setup, name)
    assert found is not None
    return found


def _find(cron_conn: psycopg.Connection[Any], setup: CronSetup, name: str) -> Job | None:
    with translated():
        row = cron_conn.execute(QUERIES["find_job"], {"jobname": name}).fetchone()
    if row is None:
        return None
    jobid, cron, command, database, active = row
    return Job(jobid, name, cron, command, database, active, setup.cron_database)


def _normalise_retention(conn: psycopg.Connection[Any], retention: str) -> str:
    try:
        with translated():
            row = conn.execute(QUERIES["retention"], {"retention": retention}).fetchone()
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid retention {retention!r}: {exc}") from exc
    assert row is not None
    if not row[1]:
        raise InvalidArgument(f"retention must be a positive interval, got {retention!r}")
    text: str = row[0]
    return DEFAULT_RETENTION if text == "30 days" else text


def _literal(conn: psycopg.Connection[Any], value: str) -> str:
    return sql.Literal(value).as_string(conn)


@contextmanager
def _cron_connection(
    conn: psycopg.Connection[Any], setup: CronSetup
) -> Iterator[psycopg.Connection[Any]]:
    """The connection to pg_cron's database: this one, or a new one with the same login."""
    if setup.in_app_database:
        yield conn
        return
    conninfo = make_conninfo(
        conn.info.dsn, dbname=setup.cron_database, password=conn.info.password or None
    )
    with translated():
        other = psycopg.connect(conninfo, autocommit=True)
    try:
        yield other
    finally:
        other.close()


MACROS = {
    "@yearly": timedelta(days=366),
    "@annually": timedelta(days=366),
    "@monthly": timedelta(days=31),
    "@weekly": timedelta(days=7),
    "@daily": timedelta(days=1),
    "@midnight": timedelta(days=1),
    "@hourly": timedelta(hours=1),
}


def schedule_interval(expr: str) -> timedelta:
    """The longest gap between two runs of a 5-field cron schedule (minutes and hours
    expanded exactly; a restricted day field counts as a week, or a month)."""
    expr = expr.strip()
    if expr.lower() in MACROS:
        return MACROS[expr.lower()]
    words = expr.split()
    if len(words) == 2 and words[0].isdigit() and words[1] in ("second", "seconds"):
        return timedelta(seconds=int(words[0]))
    fields = expr.split()
    if len(fields) != 5:
        raise InvalidArgument(f"invalid cron expression {expr!r}: expected 5 fields")
    minute, hour, day, month, weekday = fields
    if day != "*" or month != "*":
        return timedelta(days=31)
    if weekday != "*":
        return timedelta(days=7)
    try:
        times = sorted(h * 60 + m for h in _expand(hour, 0, 23) for m in _expand(minute, 0, 59))
    except ValueError as exc:
        raise InvalidArgument(f"invalid cron expression {expr!r}: {exc}") from None
    if not times:
        raise InvalidArgument(f"invalid cron expression {expr!r}")
    gaps = [b - a for a, b in pairwise(times)]
    gaps.append(times[0] + 24 * 60 - times[-1])
    return timedelta(minutes=max(gaps))


def _expand(field: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in field.split(","):
        rng, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if rng == "*":
                start, stop = low, high
            elif "-" in rng:
                start, stop = (int(x) for x in rng.split("-", 1))
            else:
                start = int(rng)
                stop = high if step_text else start
        except ValueError:
            raise ValueError(f"bad field {field!r}") from None
        if step < 1 or not low <= start <= stop <= high:
            raise ValueError(f"bad field {field!r} (allowed: {low}-{high})")
        values.update(range(start, stop + 1, step))
    return values
