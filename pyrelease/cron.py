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

A job belongs to the database it runs in (``cron.job.database``), whoever registered it:
the release job is the one that calls the procedure there. Registering re-points it with
``cron.alter_job`` (re-scheduling by name alone would keep an old database or a paused
``active`` flag); a name already held by another database's job is never taken over.

Registering the job also records it in the application database
(``real_estate.release_schedule``: name, schedule, pg_cron's database, active, the zone
pg_cron reads schedules in, and the schedule's ``interval``, the longest gap between two
runs, computed with cronsim on pg_cron's reading of it in that zone): the health rule
(plpgsql/release_health.sql) reads that row, never pg_cron's tables, which usually live in
another database. pg_cron validates schedules; pyrelease also refuses those that do not
repeat at an interval it can compute, and a schedule in seconds (``'10 seconds'``: a release
within seconds of expiry) where pg_cron is older than 1.5, in one line.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import psycopg
from cronsim import CronSim, CronSimError
from psycopg import sql
from psycopg.conninfo import make_conninfo

from .db import connect, pinned
from .errors import (
    DatabaseUnavailable,
    InvalidArgument,
    ScheduleError,
    expect_row,
    first_line,
    require,
    reraised_as,
    translated,
)
from .owner import require_owner
from .pending import require_migrated
from .queries import QUERIES
from .script import PIN, Raw, Script, StepConnection

log = logging.getLogger("pyrelease")

JOB_NAME = "release-expired-reservations"
RELEASE_COMMAND = "CALL real_estate.run_release_job"
DEFAULT_SCHEDULE = "*/5 * * * *"
DEFAULT_RETENTION = "30 days"
MIN_RETENTION = "1 day"  # real_estate.release_cutoff refuses less (RE010)
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
    def job_names(self) -> tuple[str, ...]:
        """The release job's names, preferred first (the next when a job of another
        database already has it: a name never takes another database's job over)."""
        named = (_name(JOB_NAME, self.database), _name(JOB_NAME, self.database, hashed=True))
        return tuple(dict.fromkeys((JOB_NAME, *named) if self.in_app_database else named))

    @property
    def purge_job_names(self) -> tuple[str, ...]:
        prefix = f"{JOB_NAME}-purge"
        names = (_name(prefix, self.database), _name(prefix, self.database, hashed=True))
        return tuple(dict.fromkeys(names))


def _name(prefix: str, database: str, hashed: bool = False) -> str:
    """prefix:database, within pg_cron's 63-byte job names: a database name too long to fit
    (or any, when hashed) is cut and ends in a hash of the whole name, so long names sharing
    a prefix stay apart."""
    name = f"{prefix}:{database}"
    if len(name.encode()) <= MAX_JOB_NAME_BYTES and not hashed:
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
    with translated(), pinned(conn):
        row = expect_row(conn.execute(QUERIES["cron_settings"]).fetchone(), "cron_settings")
    here, readable, cron_database, database = row
    if here:
        return CronSetup(cron_database=database, database=database)
    if readable and not cron_database:
        return None
    setup = CronSetup(cron_database=cron_database or DEFAULT_CRON_DATABASE, database=database)
    if setup.in_app_database:
        return None
    try:
        with _cron_connection(conn, setup) as cron, translated(), pinned(cron):
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


def retention_of(found: Job) -> str:
    """The retention a release job's command passes (the default when it passes none)."""
    passed = re.search(r"p_retention => '((?:[^']|'')*)'", found.command)
    return passed[1].replace("''", "'") if passed else DEFAULT_RETENTION


def schedule(
    conn: psycopg.Connection[Any],
    cron: str = DEFAULT_SCHEDULE,
    retention: str = DEFAULT_RETENTION,
) -> Job:
    """Create or update the release job (idempotent); return it. Raises only the package's
    exceptions (a pg_cron error the package has no type for is a ScheduleError)."""
    require(cron, str, "cron")
    require(retention, str, "retention")
    script = Script(conn, live=True)
    try:
        with reraised_as(ScheduleError, "pg_cron"):
            return plan_schedule(script, cron, retention)
    finally:
        script.close()


def converge(script: Script) -> Job | None:
    """The release job as it must be, or None without pg_cron: registered when missing,
    repaired when altered (the schedule and retention the DBA chose are kept), nothing sent
    when it is in place. Raises what schedule() raises when pg_cron refuses it. Part of the
    install: the routines are installed (or, printed, installed by the script) before."""
    conn = script.conn
    if cron_setup(conn) is None:
        return None
    found = job(conn)
    every, retention = DEFAULT_SCHEDULE, DEFAULT_RETENTION
    if found is not None:
        retention = retention_of(found)
        try:
            _normalise_retention(conn, retention)
        except InvalidArgument as exc:  # under 1 day: accepted before 0.2.0, refused since
            log.warning("job %s: %s; its logs are kept %s instead", found.name, exc, MIN_RETENTION)
            retention = MIN_RETENTION
        with suppress(InvalidArgument):
            check_readable(found.schedule)
            every = found.schedule
    with reraised_as(ScheduleError, "pg_cron"):
        converged = plan_schedule(script, every, retention, installed=True)
    if found is None and script.live:
        log.info(
            "scheduled %s (%s) in database %s",
            converged.name,
            converged.schedule,
            converged.cron_database,
        )
    return converged


# The id of a release job the same transaction registers (before it), for its purge job's
# command: the job is not there to read when the statements are planned.
_NEW_JOB_ID = (
    "(SELECT j.jobid FROM cron.job AS j"
    " WHERE j.jobname OPERATOR(pg_catalog.=) {name}::pg_catalog.name"
    " AND j.username OPERATOR(pg_catalog.=) CURRENT_USER::pg_catalog.text)"
)
_PURGE_BEFORE_ID = "DELETE FROM cron.job_run_details WHERE (jobid = "


@dataclass(frozen=True)
class _Call:
    """One of pg_cron's calls, with the job's name when it registers or re-points one."""

    query: str
    params: dict[str, Any]
    registers: str | None = None


def plan_schedule(script: Script, cron: str, retention: str, installed: bool = False) -> Job:
    """Read what pg_cron holds, then send (in one transaction in pg_cron's database) only
    the calls that bring it to the release job and its purge job: none when they are in
    place. `installed`: the routines are there (or the script installs them first)."""
    conn = script.conn
    # pg_cron runs the job as the role that registers it: only the owner may (owner.py).
    require_owner(conn, "schedule")
    setup = require_cron(conn)
    if not installed:
        require_migrated(conn, "schedule")
    retention = _normalise_retention(conn, retention)
    command = "CALL real_estate.run_release_job()"
    if retention != DEFAULT_RETENTION:
        command = f"CALL real_estate.run_release_job(p_retention => {_literal(conn, retention)})"
    cron_conn = script.connection(setup.cron_database)
    if in_seconds(cron):
        version = _rows(cron_conn, "cron_version", {})
        if version and _version(version[0][0]) < SECONDS_SINCE:
            raise InvalidArgument(_needs_seconds(cron, version[0][0]))
    found = _release_jobs(cron_conn, setup)
    # registered twice (by two users, or by older versions): the extras go
    calls = [_unschedule_call(extra.jobid) for extra in found[1:]]
    current, name = (
        (found[0], found[0].name)
        if found
        else _claim(cron_conn, setup.job_names, setup, lambda j: not _runs_elsewhere(j, setup))
    )
    calls += _upsert_calls(current, name, cron, command, setup.database)
    for orphan_id, gone in _rows(
        cron_conn, "orphan_release_jobs", {"jobid": current.jobid if current else None}
    ):
        calls.append(_unschedule_call(orphan_id))
        if not setup.in_app_database:
            gone_setup = CronSetup(cron_database=setup.cron_database, database=gone)
            calls += [
                _unschedule_call(p.jobid) for p in _purge_jobs(cron_conn, gone_setup, orphan_id)
            ]
    if not setup.in_app_database:
        calls += _purge_calls(cron_conn, setup, current, name, retention)
    registered = _send(script, setup.cron_database, calls, cron, name)
    if calls:
        script.note(f"{'repaired' if current else 'registered'} the release job {name!r}")
    # pg_cron validated the expression; what it accepts but pyrelease cannot compute the
    # interval of (@reboot; a sixth field, which pg_cron 1.4 ignores) rolled it back.
    jobid = current.jobid if current else int(registered.get(name, 0))
    job = Job(jobid, name, cron, command, setup.database, True, setup.cron_database)
    # Then the job as registered, in this database, for the health rule (a printed script
    # knows a new job's id only as psql's variable: JOBID_VARIABLE).
    plan_register(script, job, jobid if current or script.live else Raw(JOBID_VARIABLE))
    return job


def _send(
    script: Script, database: str, calls: list[_Call], cron: str, release_job: str
) -> dict[str, int]:
    """The calls, in one transaction with search_path pinned; check_readable(cron) before
    it commits. Returns the ids of the jobs registered (live); printed, a new release job's
    id goes into psql's variable JOBID_VARIABLE."""
    registered: dict[str, int] = {}
    if not calls:
        check_readable(cron)
        return registered
    with script.transaction(database):
        script.run(PIN, database=database)
        for call in calls:
            try:
                gset = (
                    GSET_PREFIX
                    if call.registers == release_job and call.query == QUERIES["schedule_job"]
                    else None
                )
                with translated():
                    rows = script.run(call.query, call.params, database=database, gset=gset)
            except psycopg.errors.InvalidParameterValue as exc:  # 22023: "invalid schedule"
                raise InvalidArgument(
                    _needs_seconds(cron)
                    if in_seconds(cron)
                    else f"invalid cron expression {cron!r}: {first_line(exc)}"
                ) from exc
            except psycopg.Error as exc:
                if call.registers is None:
                    raise
                raise ScheduleError(
                    f"pg_cron refused the job {call.registers!r}: {first_line(exc)}"
                ) from exc
            if call.registers is not None and rows and call.query == QUERIES["schedule_job"]:
                registered[call.registers] = int(rows[0][0])
        check_readable(cron)
    return registered


def _needs_seconds(cron: str, version: str | None = None) -> str:
    here = f", this server has pg_cron {version}" if version else ""
    needs = "a schedule in seconds needs pg_cron 1.5 or later"
    return f"invalid cron expression {cron!r}: {needs}{here}"


def _version(text: str) -> tuple[int, ...]:
    """pg_cron's extension version ("1.4-1", "1.6") as numbers."""
    return tuple(int(n) for n in re.findall(r"\d+", text)[:2])


def _unschedule_call(jobid: int) -> _Call:
    return _Call(QUERIES["unschedule_job"], {"jobid": jobid})


def _upsert_calls(
    existing: Job | None, name: str, cron: str, command: str | Raw, database: str
) -> list[_Call]:
    """Register the job, or re-point the existing one (schedule, command, database, active:
    re-scheduling by name alone would keep an old database or a paused flag); nothing when
    it is as it must be."""
    params: dict[str, Any] = {
        "jobname": name,
        "schedule": cron,
        "command": command,
        "database": database,
    }
    if existing is None:
        return [_Call(QUERIES["schedule_job"], params, registers=name)]
    if (existing.schedule, existing.command, existing.database, existing.active) == (
        cron,
        command,
        database,
        True,
    ):
        return []
    return [_Call(QUERIES["alter_job"], {**params, "jobid": existing.jobid}, registers=name)]


def _purge_calls(
    cron_conn: psycopg.Connection[Any],
    setup: CronSetup,
    release: Job | None,
    release_name: str,
    retention: str,
) -> list[_Call]:
    """The daily job that trims pg_cron's run history of the release job (and its own); a
    release job registered by the same calls is named by the query that finds it."""
    found = _purge_jobs(cron_conn, setup, release.jobid if release else _NO_JOB)
    calls = [_unschedule_call(extra.jobid) for extra in found[1:]]
    current, name = (
        (found[0], found[0].name)
        if found
        else _claim(cron_conn, setup.purge_job_names, setup, lambda j: _purges(j, setup, None))
    )
    after_id = (
        f" OR jobid IN (SELECT jobid FROM cron.job WHERE jobname = {_literal(cron_conn, name)}"
        " AND database = current_database()))"
        f" AND start_time < now() - interval {_literal(cron_conn, retention)}"
    )
    purge: str | Raw
    if release is not None:
        purge = f"{_PURGE_BEFORE_ID}{release.jobid}{after_id}"
    else:
        new_id = _NEW_JOB_ID.format(name=_literal(cron_conn, release_name))
        purge = Raw(
            f"({_literal(cron_conn, _PURGE_BEFORE_ID)} OPERATOR(pg_catalog.||)"
            f" {new_id}::pg_catalog.text OPERATOR(pg_catalog.||) {_literal(cron_conn, after_id)})"
        )
    return calls + _upsert_calls(current, name, PURGE_SCHEDULE, purge, setup.cron_database)


_NO_JOB = -1  # no release job has this id: the purge jobs of a job not registered yet

_PURGED_JOB = re.compile(r"\(jobid = (\d+) OR")


def _purges(found: Job, setup: CronSetup, release_jobid: int | None) -> bool:
    """Whether `found` is the purge job of `release_jobid` (None: of no other live job): it
    runs in pg_cron's database and trims that job's history (or, written by an older
    version, names no job id)."""
    if found.database != setup.cron_database:
        return False
    named = _PURGED_JOB.search(found.command)
    return named is None or release_jobid is None or int(named[1]) == release_jobid


def _purge_jobs(
    cron_conn: psycopg.Connection[Any], setup: CronSetup, release_jobid: int
) -> list[Job]:
    """The purge jobs, under the database's names, of its release job."""
    return [
        found
        for name in setup.purge_job_names
        for found in _jobs(cron_conn, "named_jobs", {"jobname": name}, setup)
        if _purges(found, setup, release_jobid)
    ]


def unschedule(conn: psycopg.Connection[Any]) -> bool:
    """Remove this database's release job (and its purge job); True if there was one."""
    with reraised_as(ScheduleError, "pg_cron"):
        return _unschedule(conn)


def _unschedule(conn: psycopg.Connection[Any]) -> bool:
    # It records the removal in the install's table: only the owner may (owner.py).
    require_owner(conn, "unschedule")
    setup = require_cron(conn)
    with _cron_connection(conn, setup) as cron_conn:
        found = _release_jobs(cron_conn, setup)
        purges = [p for j in found for p in _purge_jobs(cron_conn, setup, j.jobid)]
        for each in (*found, *purges):
            _unschedule_job(cron_conn, each.jobid)
    with translated(), pinned(conn):
        conn.execute(QUERIES["unregister_schedule"])
    return bool(found)


# psql's variable that holds a new release job's id in a printed script (`\gset` after
# cron.schedule_in_database, whose result column names it).
GSET_PREFIX = "pyrelease_"
JOBID_VARIABLE = ":'pyrelease_schedule_in_database'::pg_catalog.int8"


def plan_register(script: Script, found: Job, jobid: int | Raw) -> None:
    """Record `found` as this database's release job, with its schedule's interval (what the
    health rule reads), unless it is recorded so already; InvalidArgument for a schedule
    whose interval cannot be computed."""
    conn = script.conn
    zone = timezone(conn)
    params = {
        "name": found.name,
        "jobid": jobid,
        "schedule": found.schedule,
        "cron_database": found.cron_database,
        "interval": interval(found.schedule, zone),
        "active": found.active,
        "timezone": zone,
    }
    with translated(), pinned(conn):
        if not expect_row(conn.execute(QUERIES["has_release_schedule"]).fetchone(), "table")[0]:
            if script.live:
                return  # (before 0012: nothing to record it in)
        else:
            recorded = conn.execute(QUERIES["registered_schedule"]).fetchone()
            keys = ("name", "jobid", "schedule", "cron_database", "interval", "active", "timezone")
            if recorded is not None and recorded == tuple(params[k] for k in keys):
                return
    with script.transaction():
        script.run(PIN)
        script.run(QUERIES["register_schedule"], params)


def timezone(conn: psycopg.Connection[Any]) -> str:
    """The zone pg_cron reads schedules in: cron.timezone (pg_cron 1.5 and later, for a role
    that may read it: the owner has pg_read_all_settings), else GMT."""
    with translated(), pinned(conn):
        row = conn.execute(QUERIES["cron_timezone"]).fetchone()
    return str(row[0]) if row and row[0] else GMT


def register(conn: psycopg.Connection[Any], found: Job) -> None:
    """plan_register, run on `conn`."""
    script = Script(conn, live=True)
    try:
        plan_register(script, found, found.jobid)
    finally:
        script.close()


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
        found = _release_jobs(cron_conn, setup)
        if found:
            return found[0]
        # a job under this database's name whose command was altered is still its job
        for name in setup.job_names:
            for held in _jobs(cron_conn, "named_jobs", {"jobname": name}, setup):
                if not _runs_elsewhere(held, setup):
                    return held
    return None


def job_runs(conn: psycopg.Connection[Any], found: Job, limit: int = 5) -> list[JobRun]:
    """The latest runs of the job as pg_cron recorded them, newest first."""
    setup = CronSetup(cron_database=found.cron_database, database=found.database)
    with _cron_connection(conn, setup) as cron_conn, translated(), pinned(cron_conn):
        rows = cron_conn.execute(QUERIES["job_runs"], {"jobid": found.jobid, "limit": limit})
        return [JobRun(*row) for row in rows.fetchall()]


def _claim(
    cron_conn: psycopg.Connection[Any],
    names: tuple[str, ...],
    setup: CronSetup,
    ours: Callable[[Job], bool],
) -> tuple[Job | None, str]:
    """The first of `names` that is free or held by a job that is `ours` (an altered job,
    re-pointed then), with that job: a name held by another database's job is skipped."""
    for name in names:
        held = _jobs(cron_conn, "named_jobs", {"jobname": name}, setup)
        if not held:
            return None, name
        for found in held:
            if ours(found):
                return found, name
    raise ScheduleError(f"pg_cron job names {', '.join(names)} are all taken by other jobs")


def _runs_elsewhere(found: Job, setup: CronSetup) -> bool:
    """A release job of another database."""
    return found.database != setup.database and found.command.startswith(RELEASE_COMMAND)


def _release_jobs(cron_conn: psycopg.Connection[Any], setup: CronSetup) -> list[Job]:
    return _jobs(cron_conn, "release_jobs", {"database": setup.database}, setup)


def _jobs(
    cron_conn: psycopg.Connection[Any], query: str, params: dict[str, Any], setup: CronSetup
) -> list[Job]:
    return [
        Job(jobid, name, cron, command, database, active, setup.cron_database)
        for jobid, name, cron, command, database, active in _rows(cron_conn, query, params)
    ]


def _rows(
    cron_conn: psycopg.Connection[Any], query: str, params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    with translated(), pinned(cron_conn):
        return cron_conn.execute(QUERIES[query], params).fetchall()


def _unschedule_job(cron_conn: psycopg.Connection[Any], jobid: int) -> None:
    with translated(), pinned(cron_conn):
        cron_conn.execute(QUERIES["unschedule_job"], {"jobid": jobid})


def _normalise_retention(conn: psycopg.Connection[Any], retention: str) -> str:
    """The retention as PostgreSQL reads it, checked by the routines' own rule
    (real_estate.release_cutoff). Only a printed script planned before the routines exist
    reads it unchecked: the script installs the rule before it registers the job, and the
    scheduled run applies it at every run."""
    try:
        with translated(), pinned(conn):
            checked = conn.execute(QUERIES["has_release_cutoff"]).fetchone()
            query = "retention" if checked and checked[0] else "retention_unchecked"
            row = expect_row(
                conn.execute(QUERIES[query], {"retention": retention}).fetchone(), "retention"
            )
    except InvalidArgument as exc:  # not an interval, or under 1 day (release_cutoff's RE010)
        raise InvalidArgument(f"invalid retention {retention!r}: {exc}") from exc
    text: str = row[0]
    return DEFAULT_RETENTION if text == "30 days" else text


def _literal(conn: psycopg.Connection[Any], value: str) -> str:
    return sql.Literal(value).as_string(conn)


@contextmanager
def _cron_connection(
    conn: psycopg.Connection[Any], setup: CronSetup
) -> Iterator[psycopg.Connection[Any]]:
    """The connection to pg_cron's database: this one, or a new one with the same login (a
    migration step's connection: its sibling there, see script.py)."""
    if setup.in_app_database:
        yield conn
        return
    if isinstance(conn, StepConnection):
        yield conn.sibling(setup.cron_database)
        return
    conninfo = make_conninfo(
        conn.info.dsn, dbname=setup.cron_database, password=conn.info.password or None
    )
    other = connect(conninfo)
    try:
        yield other
    finally:
        other.close()


# How pg_cron reads a schedule it accepted (src/entry.c): its @-macros are these five fields
# (@reboot has no times: it runs when the server starts); "N seconds" (1-59) and "$" (the
# last day of the month) come with pg_cron 1.5 and 1.6. pg_cron 1.4 reads the fields in GMT,
# 1.5 and later in cron.timezone: each minute of real time is matched in that zone, so a
# time the clocks skip (DST) never runs and a time they repeat runs twice.
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
REBOOT = ("@reboot", "@restart")
SECONDS_SINCE = (1, 5)  # the pg_cron version that reads "N seconds"
_SECONDS = re.compile(r"\s*(\d{1,2})\s+seconds?\s*", re.ASCII)
# The Gregorian calendar, days of the week included, repeats every 400 years.
CYCLE_START = date(2000, 1, 1)
CYCLE_DAYS = 146_097
# Where a zone's clock changes are looked for: 28 years, over which (from 1901 to 2099) the
# days of the week fall on every date of the year as often.
DST_YEARS = range(2026, 2054)
DST_MARGIN = timedelta(hours=3)  # more than any clock change
GMT = "GMT"  # pg_cron's default cron.timezone, and 1.4's only zone
_UTC_NAMES = {"gmt", "utc", "etc/gmt", "etc/utc", "z", "zulu", "universal", "etc/universal"}
_OFFSET = re.compile(r"[+-]?\d{1,2}(?::\d\d){0,2}|(?:utc|gmt)[+-]\d{1,2}(?::\d\d)?", re.I | re.A)


def _reading(expr: str) -> str | timedelta:
    """A schedule as pg_cron runs it: five cron fields (for cronsim), or a period.

    Raises InvalidArgument for a schedule that does not repeat (@reboot) or that cronsim
    cannot read as pg_cron does (pg_cron ignores a sixth field, which cronsim would take
    for seconds)."""
    text = expr.strip()
    if text in MACROS:
        return MACROS[text]
    seconds = _SECONDS.fullmatch(text)
    if seconds is not None and 1 <= int(seconds[1]) <= 59:
        return timedelta(seconds=int(seconds[1]))
    fields = text.split()
    if text in REBOOT:
        problem = "it runs only when the server starts, not at a regular interval"
    elif len(fields) != 5:
        problem = f"expected 5 fields, got {len(fields)}"
    else:
        if fields[2] == "$":  # pg_cron's last day of the month is cronsim's L
            fields[2] = "L"
        reading = " ".join(fields)
        try:
            CronSim(reading, datetime(2000, 1, 1))
            return reading
        except CronSimError as exc:
            problem = str(exc).lower()
    raise InvalidArgument(
        f"invalid cron expression {expr!r}: `status --check` cannot tell when it runs ({problem})"
    )


def check_readable(expr: str) -> None:
    """Refuse (InvalidArgument) a schedule whose interval pyrelease cannot compute."""
    _reading(expr)


def in_seconds(expr: str) -> bool:
    """Whether the schedule is pg_cron's "N seconds", 1 to 59 (pg_cron 1.5 and later)."""
    seconds = _SECONDS.fullmatch(expr)
    return seconds is not None and 1 <= int(seconds[1]) <= 59


def interval(expr: str, zone: str = GMT) -> timedelta:
    """The longest gap between two consecutive runs of a schedule read in `zone` (the
    health rule allows two of them). Bounded: the times of one day and one pass over the
    days of the 400-year cycle after which the calendar repeats (about 0.15 s), then, in a
    zone whose clocks change, the runs around each change of DST_YEARS."""
    reading = _reading(expr)
    if isinstance(reading, timedelta):
        return reading
    sim = CronSim(reading, datetime(2000, 1, 1))
    times = sorted(h * 60 + m for h in sim.hours for m in sim.minutes)
    start = CYCLE_START.toordinal()
    days = [
        n
        for n in range(CYCLE_DAYS)
        if (day := date.fromordinal(start + n)).month in sim.months and sim.match_day(day)
    ]
    if not days:
        raise InvalidArgument(f"invalid cron expression {expr!r}: it never runs")
    within = [b - a for a, b in pairwise(times)]
    # from a day's last run to the next day's first (the cycle's first day comes back)
    across = [
        (b - a) * 1440 - (times[-1] - times[0]) for a, b in pairwise([*days, days[0] + CYCLE_DAYS])
    ]
    longest = timedelta(minutes=max(within + across))
    tz = time_zone(zone)
    if tz is None:
        return longest
    # In real time a gap grows by the hour the clocks go back, and a run the clocks skip
    # joins the gaps on either side of it: the runs around each change, in real time.
    for change in _clock_changes(tz):
        wall = (change - DST_MARGIN).astimezone(tz).replace(tzinfo=None)
        end = (change + DST_MARGIN).astimezone(tz).replace(tzinfo=None)
        runs = CronSim(reading, next(CronSim(reading, wall, reverse=True)) - timedelta(seconds=1))
        real: list[datetime] = []
        for run in runs:
            real += _instants(run, tz)
            if run > end:
                break
        real.sort()
        longest = max([longest, *(b - a for a, b in pairwise(real))])
    return longest


def next_run(expr: str, moment: datetime, zone: str = GMT) -> datetime:
    """The first time after `moment` at which pg_cron starts a job on this schedule, read in
    `zone`."""
    reading = _reading(expr)
    moment = moment.astimezone(UTC)
    if isinstance(reading, timedelta):
        return moment + reading
    tz = time_zone(zone)
    if tz is None:
        return next(CronSim(reading, moment))
    # (a time the clocks repeat comes twice: from before the earlier one)
    for run in CronSim(reading, (moment - DST_MARGIN).astimezone(tz).replace(tzinfo=None)):
        later = [t for t in _instants(run, tz) if t > moment]
        if later:
            return min(later)
    raise InvalidArgument(f"invalid cron expression {expr!r}: it never runs")  # pragma: no cover


def time_zone(name: str) -> ZoneInfo | None:
    """cron.timezone as Python reads it: None for GMT and fixed offsets (no clock changes),
    else the zone; InvalidArgument for a zone Python's tz database lacks."""
    text = name.strip()
    if text.lower() in _UTC_NAMES or _OFFSET.fullmatch(text):
        return None
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    # PostgreSQL finds zone names whatever their case
    found = [z for z in _zone_names() if z.lower() == text.lower()]
    if found:
        return ZoneInfo(found[0])
    raise InvalidArgument(
        f"pg_cron reads schedules in cron.timezone {name!r}, a zone this Python does not know"
        " (install the tzdata package, or set cron.timezone to a zone name or GMT)"
    )


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def _clock_changes(tz: ZoneInfo) -> tuple[datetime, ...]:
    """The instants (UTC) at which the zone's offset changes during DST_YEARS."""
    changes = []
    day = datetime(DST_YEARS.start, 1, 1, tzinfo=UTC)
    offset = day.astimezone(tz).utcoffset()
    while day.year < DST_YEARS.stop:
        following = day + timedelta(days=1)
        now = following.astimezone(tz).utcoffset()
        if now != offset:
            low, high = day, following  # the change is in (low, high]
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                if middle.astimezone(tz).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            changes.append(high.replace(second=0, microsecond=0))
            offset = now
        day = following
    return tuple(changes)


def _instants(wall: datetime, tz: ZoneInfo) -> list[datetime]:
    """The real instants (UTC) at which the zone's clocks show `wall`: none in a time they
    skip, two in a time they repeat."""
    found: list[datetime] = []
    for fold in (0, 1):
        real = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if real.astimezone(tz).replace(tzinfo=None) == wall and real not in found:
            found.append(real)
    return found
