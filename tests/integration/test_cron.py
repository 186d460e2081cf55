"""The pg_cron job: registered by migrating, upserted by schedule(), removed by unschedule()
and rollback, in both set-ups (pg_cron in `postgres`, pg_cron in the application database),
and without pg_cron at all (AC 2.4.1, a real tick, is in tests/acceptance/test_story.py)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from factories import (
    JOB,
    closed_port,
    connect_to,
    cron_jobs,
    current_db,
    drop_jobs,
    extra_database,
    job_names,
    make_project,
    make_properties,
    make_workspace,
    migration_ids,
    scalar,
)
from psycopg import sql
from psycopg.conninfo import make_conninfo

import pyrelease
from pyrelease import InvalidArgument, PyreleaseError, ScheduleError, cron
from pyrelease.cli import main

Conn = psycopg.Connection[Any]

COMMAND = "CALL real_estate.run_release_job()"
EVERY_5 = "*/5 * * * *"
NO_SCHEDULE = "no release schedule was created"
APP_DB = "pyrelease_app"  # the cron database of server_cron_in_app: never dropped


# --------------------------------------------------------------------------- helpers


def release_job(server: Any, dbname: str) -> tuple[Any, ...]:
    jobs = [j for j in cron_jobs(server, dbname) if j[1] == f"{JOB}:{dbname}"]
    assert len(jobs) == 1, jobs
    return jobs[0]


CRON_FUNCTIONS = (
    "cron.schedule_in_database(text, text, text, text, text, boolean),"
    " cron.alter_job(bigint, text, text, text, text, boolean), cron.unschedule(bigint)"
)


@contextmanager
def owner_database(
    server: Any, *, read_settings: bool, cron_grants: bool, createrole: bool = True
) -> Iterator[tuple[str, str, str]]:
    """A database owned by a new non-superuser role (LOGIN CREATEROLE) that may use pg_cron
    (USAGE on schema cron, and with cron_grants EXECUTE on what schedule() calls), as the
    README's "migrate as the role that will own the objects and the job" suggests.
    Yields (dsn as that role, database name, role name)."""
    role = f"pyrelease_t_owner_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    ident = sql.Identifier(role)
    with connect_to(server.admin_dsn) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN {} PASSWORD {}").format(
                ident,
                sql.SQL("CREATEROLE" if createrole else "NOCREATEROLE"),
                sql.Literal(password),
            )
        )
        if read_settings:
            admin.execute(sql.SQL("GRANT pg_read_all_settings TO {}").format(ident))
    try:
        with connect_to(server.dsn_for(server.cron_database)) as c:
            c.execute(sql.SQL("GRANT USAGE ON SCHEMA cron TO {}").format(ident))
            if cron_grants:
                c.execute(
                    sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(
                        sql.SQL(CRON_FUNCTIONS), ident
                    )
                )
        with extra_database(server, owner=role) as name:
            dsn = make_conninfo(server.dsn_for(name), user=role, password=password)
            yield dsn, name, role
    finally:
        with connect_to(server.dsn_for(server.cron_database)) as c:
            c.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        with connect_to(server.admin_dsn) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(ident))
            admin.execute(sql.SQL("DROP ROLE {}").format(ident))


# --------------------------------------------------------------------------- default set-up


def test_migrating_registers_the_job(server: Any, fresh_db: str) -> None:
    with connect_to(fresh_db) as c:
        name = current_db(c)
    pyrelease.migrate(fresh_db)

    jobs = cron_jobs(server, name)
    assert [j[1:] for j in jobs] == [
        (f"{JOB}:{name}", EVERY_5, COMMAND, name, True),
        (
            f"{JOB}-purge:{name}",
            cron.PURGE_SCHEDULE,
            jobs[1][3],
            server.cron_database,
            True,
        ),
    ]
    assert "DELETE FROM cron.job_run_details" in jobs[1][3]
    assert "interval '30 days'" in jobs[1][3]

    with connect_to(fresh_db) as c:
        found = cron.job(c)
    assert found == cron.Job(
        jobid=jobs[0][0],
        name=f"{JOB}:{name}",
        schedule=EVERY_5,
        command=COMMAND,
        database=name,
        active=True,
        cron_database=server.cron_database,
    )


def test_rescheduling_and_remigrating_never_duplicate(server: Any, fresh_db: str) -> None:
    with connect_to(fresh_db) as c:
        name = current_db(c)
    pyrelease.migrate(fresh_db)
    first = cron_jobs(server, name)

    with connect_to(fresh_db) as c:
        assert cron.schedule(c).jobid == first[0][0]
        assert cron.schedule(c).jobid == first[0][0]
    assert pyrelease.migrate(fresh_db) == []
    assert cron_jobs(server, name) == first

    # 0003 rolled back (with what follows it) and applied again: still one job
    with connect_to(fresh_db) as c:
        ids = [r[0] for r in c.execute("SELECT migration_id FROM _yoyo_migration").fetchall()]
    pyrelease.rollback(fresh_db, steps=len([i for i in ids if i >= "0003.release-job"]))
    assert cron_jobs(server, name) == []
    pyrelease.migrate(fresh_db)
    again = cron_jobs(server, name)
    # the same pair; the purge job's command names the new release job's id
    assert [j[1:3] + j[4:] for j in again] == [j[1:3] + j[4:] for j in first]
    assert again[0][3] == first[0][3]
    assert again[1][3] == first[1][3].replace(f"jobid = {first[0][0]} ", f"jobid = {again[0][0]} ")


def test_schedule_twice_is_one_job(server: Any, conn: Conn) -> None:
    name = current_db(conn)
    one = cron.schedule(conn)
    two = cron.schedule(conn)
    assert one == two
    assert [j[1] for j in cron_jobs(server, name)] == job_names(name)


def test_schedule_reactivates_a_paused_job_and_applies_a_new_schedule(
    server: Any, conn: Conn
) -> None:
    name = current_db(conn)
    job = cron.schedule(conn)
    with connect_to(server.dsn_for(server.cron_database)) as c:
        c.execute("SELECT cron.alter_job(%s, active := false)", (job.jobid,))
    assert release_job(server, name)[5] is False
    assert cron.job(conn) == replace(job, active=False)

    again = cron.schedule(conn)
    assert again == job
    assert release_job(server, name)[5] is True

    with connect_to(server.dsn_for(server.cron_database)) as c:
        c.execute("SELECT cron.alter_job(%s, active := false)", (job.jobid,))
    changed = cron.schedule(conn, cron="*/7 * * * *")
    assert changed.jobid == job.jobid
    assert (changed.schedule, changed.active) == ("*/7 * * * *", True)
    assert release_job(server, name)[2:] == ("*/7 * * * *", COMMAND, name, True)
    assert len(cron_jobs(server, name)) == 2


def test_schedule_repoints_a_job_that_runs_elsewhere(server: Any, conn: Conn) -> None:
    name = current_db(conn)
    job = cron.schedule(conn)
    with connect_to(server.dsn_for(server.cron_database)) as c:
        c.execute(
            "SELECT cron.alter_job(%s, command := 'SELECT 1', database := %s)",
            (job.jobid, server.cron_database),
        )
    assert cron.schedule(conn) == job
    assert release_job(server, name)[2:] == (EVERY_5, COMMAND, name, True)


def test_retention_goes_into_the_command(server: Any, conn: Conn) -> None:
    name = current_db(conn)
    job = cron.schedule(conn, retention="7 days")
    assert job.command == "CALL real_estate.run_release_job(p_retention => '7 days')"
    purge = [j for j in cron_jobs(server, name) if j[1] == f"{JOB}-purge:{name}"]
    assert len(purge) == 1
    assert "interval '7 days'" in purge[0][3]

    # both commands are valid SQL that runs
    conn.execute(job.command)
    with connect_to(server.dsn_for(server.cron_database)) as c:
        c.execute(purge[0][3])
    # a run with nothing to release leaves only its heartbeat
    assert scalar(conn, "SELECT count(*) FROM real_estate.release_run") == 0
    assert scalar(conn, "SELECT finished_at IS NOT NULL FROM real_estate.release_heartbeat")

    assert cron.schedule(conn, retention="720 hours").command == (
        "CALL real_estate.run_release_job(p_retention => '720:00:00')"
    )
    assert cron.schedule(conn, retention="30 days").command == COMMAND
    assert cron.schedule(conn).command == COMMAND


def test_scheduled_runs_with_nothing_to_release_leave_nothing_that_grows(conn: Conn) -> None:
    """A 10-second schedule runs 8,640 times a day: each run wrote a release_run row. Now one
    heartbeat row, updated in place (HOT, on its one page), and nothing else."""
    tables = ("release_run", "release_event", "release_heartbeat")

    def sizes() -> list[Any]:
        return [scalar(conn, f"SELECT count(*) FROM real_estate.{t}") for t in tables] + [
            scalar(conn, "SELECT pg_relation_size('real_estate.release_heartbeat')")
        ]

    conn.execute(COMMAND)
    first = conn.execute("SELECT started_at, finished_at FROM real_estate.release_heartbeat")
    before = first.fetchone()
    assert sizes() == [0, 0, 1, 8192]
    for _ in range(400):  # more row versions than one page holds
        conn.execute(COMMAND)
    assert sizes() == [0, 0, 1, 8192]
    after = conn.execute(
        "SELECT started_at, finished_at FROM real_estate.release_heartbeat"
    ).fetchone()
    assert before is not None and after is not None
    assert after[0] > before[1] and after[1] > after[0]  # the last run started, then finished
    # a run that releases gets its row, and its heartbeat
    ws = make_workspace(conn)
    make_properties(conn, ws, make_project(conn, ws), 3, "RESERVED", expired=True)
    conn.execute(COMMAND)
    assert conn.execute(
        "SELECT source, released, finished_at IS NOT NULL FROM real_estate.release_run"
    ).fetchall() == [("pg_cron", 3, True)]
    assert sizes()[1:3] == [3, 1]


@pytest.mark.parametrize("retention", ["banana", "-1 day", "0", ""])
def test_bad_retention_is_rejected_and_changes_nothing(
    server: Any, conn: Conn, retention: str
) -> None:
    name = current_db(conn)
    cron.schedule(conn)
    before = cron_jobs(server, name)
    with pytest.raises(InvalidArgument, match="retention"):
        cron.schedule(conn, retention=retention)
    assert cron_jobs(server, name) == before


@pytest.mark.parametrize("existing", [False, True])
def test_invalid_cron_expression_is_rejected_and_changes_nothing(
    server: Any, conn: Conn, existing: bool
) -> None:
    name = current_db(conn)
    if existing:
        cron.schedule(conn)
    before = cron_jobs(server, name)
    with pytest.raises(InvalidArgument, match="invalid cron expression 'every day'"):
        cron.schedule(conn, cron="every day")
    assert cron_jobs(server, name) == before


def test_two_databases_each_keep_their_own_job(server: Any, conn: Conn, fresh_db: str) -> None:
    a = current_db(conn)
    with connect_to(fresh_db) as c:
        b = current_db(c)
    cron.schedule(conn)
    pyrelease.migrate(fresh_db)
    jobs_a, jobs_b = cron_jobs(server, a), cron_jobs(server, b)
    assert [j[1] for j in jobs_a] == job_names(a)
    assert [j[1] for j in jobs_b] == job_names(b)
    assert release_job(server, a)[4] == a
    assert release_job(server, b)[4] == b

    assert cron.unschedule(conn) is True
    assert cron_jobs(server, a) == []
    assert cron_jobs(server, b) == jobs_b
    assert cron.unschedule(conn) is False

    cron.schedule(conn)
    jobs_a = cron_jobs(server, a)
    pyrelease.rollback(fresh_db, steps="all")  # removes b's job, and only it
    assert cron_jobs(server, b) == []
    assert cron_jobs(server, a) == jobs_a


@pytest.mark.parametrize("odd_name", [False, True], ids=["plain name", "odd name"])
def test_purge_job_trims_only_this_databases_old_run_history(server: Any, odd_name: bool) -> None:
    # quotes, comma, braces, backslash; short enough (<= 28 bytes) for pg_cron's job names
    name = f'p_{uuid.uuid4().hex[:6]} "Odd", it\'s {{x}}\\' if odd_name else None
    with extra_database(server, name) as name:
        dsn = make_conninfo(server.admin_dsn, dbname=name)
        pyrelease.migrate(dsn)
        try:
            jobs = cron_jobs(server, name)
            assert [(j[1], j[4]) for j in jobs] == [
                (f"{JOB}:{name}", name),
                (f"{JOB}-purge:{name}", server.cron_database),
            ]
            release_id, purge_command = jobs[0][0], jobs[1][3]
            other_id = -int(uuid.uuid4().int % 1_000_000) - 1  # some other job's history
            with connect_to(server.dsn_for(server.cron_database)) as c:
                c.execute(
                    "INSERT INTO cron.job_run_details (jobid, status, start_time)"
                    " VALUES (%(mine)s, 'succeeded', now() - interval '40 days'),"
                    " (%(mine)s, 'succeeded', now() - interval '1 day'),"
                    " (%(other)s, 'succeeded', now() - interval '40 days')",
                    {"mine": release_id, "other": other_id},
                )
                try:
                    c.execute(purge_command)
                    left = c.execute(
                        "SELECT jobid, now() - start_time > interval '30 days'"
                        " FROM cron.job_run_details WHERE jobid IN (%s, %s) ORDER BY 1 DESC, 2",
                        (release_id, other_id),
                    ).fetchall()
                finally:
                    c.execute(
                        "DELETE FROM cron.job_run_details WHERE jobid IN (%s, %s)",
                        (release_id, other_id),
                    )
            assert left == [(release_id, False), (other_id, True)]
        finally:
            pyrelease.rollback(dsn, steps="all")
        assert cron_jobs(server, name) == []


def test_long_database_names_each_keep_their_own_job(server: Any) -> None:
    prefix = f"pyrelease_t_long_{uuid.uuid4().hex[:8]}_xxxxxxxxxxxx"  # 38 characters
    with (
        extra_database(server, f"{prefix}_one") as one,
        extra_database(server, f"{prefix}_two") as two,
    ):
        try:
            pyrelease.migrate(server.dsn_for(one))
            pyrelease.migrate(server.dsn_for(two))
            with connect_to(server.dsn_for(one)) as c1, connect_to(server.dsn_for(two)) as c2:
                job_one, job_two = cron.job(c1), cron.job(c2)
            assert job_one is not None
            assert job_two is not None
            assert job_one.database == one
            assert job_two.database == two
            assert job_one.jobid != job_two.jobid
        finally:
            for name in (one, two):
                pyrelease.rollback(server.dsn_for(name), steps="all")


def test_owner_role_with_pg_cron_grants_and_pg_read_all_settings_owns_the_job(
    server: Any,
) -> None:
    with owner_database(server, read_settings=True, cron_grants=True) as (dsn, name, role):
        try:
            assert len(pyrelease.migrate(dsn)) == len(migration_ids())
            with connect_to(server.dsn_for(server.cron_database)) as c:
                owners = c.execute(
                    "SELECT jobname::text, username FROM cron.job"
                    " WHERE jobname = ANY (%s::name[]) ORDER BY jobid",
                    (job_names(name),),
                ).fetchall()
            assert owners == [(n, role) for n in job_names(name)]
        finally:
            pyrelease.rollback(dsn, steps="all")
        assert cron_jobs(server, name) == []


def test_non_superuser_owner_with_pg_cron_grants_can_migrate(server: Any) -> None:
    with owner_database(server, read_settings=False, cron_grants=True) as (dsn, name, _):
        try:
            assert len(pyrelease.migrate(dsn)) == len(migration_ids())
            assert [j[1] for j in cron_jobs(server, name)] == job_names(name)
        finally:
            pyrelease.rollback(dsn, steps="all")


def test_non_superuser_owner_runs_the_scheduled_procedure_and_its_purge(server: Any) -> None:
    """The purge read cron.database_name (superuser-only), so every
    scheduled run of a non-superuser owner failed after committing its releases."""
    with owner_database(server, read_settings=False, cron_grants=True) as (dsn, _, _):
        try:
            pyrelease.migrate(dsn)
            with connect_to(dsn) as c:
                ws = make_workspace(c)
                project = make_project(c, ws)
                make_properties(c, ws, project, 2, "RESERVED")
                c.execute("CALL real_estate.run_release_job()")
                assert c.execute(
                    "SELECT released, finished_at IS NOT NULL FROM real_estate.release_run"
                ).fetchall() == [(2, True)]
                assert scalar(c, "SELECT real_estate.purge_release_log()") == 0
        finally:
            pyrelease.rollback(dsn, steps="all")


def test_owner_without_createrole_migrates_when_the_roles_exist(
    server: Any, template_db: str
) -> None:
    """0005 granted reader to app again, which needs CREATEROLE (or ADMIN)."""
    with owner_database(server, read_settings=False, cron_grants=True, createrole=False) as (
        dsn,
        _,
        _role,
    ):
        try:
            assert len(pyrelease.migrate(dsn)) == len(migration_ids())
            with connect_to(dsn) as c:
                assert scalar(
                    c, "SELECT pg_has_role('real_estate_app', 'real_estate_reader', 'USAGE')"
                )
                grant = "SELECT has_table_privilege('real_estate_app', 'real_estate.property', %s)"
                assert scalar(c, grant, ("UPDATE",))
        finally:
            pyrelease.rollback(dsn, steps="all")


def test_pg_cron_permission_error_is_not_an_invalid_cron_expression(server: Any) -> None:
    with owner_database(server, read_settings=True, cron_grants=False) as (dsn, _, _):
        pyrelease.migrate(dsn, schedule=False)
        try:
            error: PyreleaseError | None = None
            with connect_to(dsn) as c:
                try:
                    cron.schedule(c)
                except PyreleaseError as exc:
                    error = exc
            assert isinstance(error, ScheduleError), repr(error)
            assert "invalid cron expression" not in str(error)
            assert "permission denied" in str(error)
        finally:
            pyrelease.rollback(dsn, steps="all")


# --------------------------------------------------------------------------- pg_cron in the app db


def test_cron_in_the_application_database(server_cron_in_app: Any) -> None:
    server = server_cron_in_app
    dsn = server.dsn_for(APP_DB)
    pyrelease.rollback(dsn, steps="all")  # start from a clean database
    try:
        pyrelease.migrate(dsn)
        with connect_to(dsn) as c:
            jobs = c.execute(
                "SELECT jobid, jobname::text, schedule, command, database, active FROM cron.job"
                " WHERE jobname LIKE %s ORDER BY jobid",
                (f"{JOB}%",),
            ).fetchall()
            assert [j[1:] for j in jobs] == [(JOB, EVERY_5, COMMAND, APP_DB, True)]
            found = cron.job(c)
            assert found is not None
            assert (found.name, found.cron_database, found.database) == (JOB, APP_DB, APP_DB)
            assert cron.schedule(c) == found
            c.execute("SELECT cron.alter_job(%s, active := false)", (found.jobid,))
            assert cron.schedule(c, cron="*/9 * * * *", retention="7 days") == replace(
                found,
                schedule="*/9 * * * *",
                command="CALL real_estate.run_release_job(p_retention => '7 days')",
            )
            count = scalar(c, "SELECT count(*) FROM cron.job WHERE jobname LIKE %s", (f"{JOB}%",))
            assert count == 1
    finally:
        pyrelease.rollback(dsn, steps="all")
    with connect_to(dsn) as c:
        assert scalar(c, "SELECT count(*) FROM cron.job WHERE jobname LIKE %s", (f"{JOB}%",)) == 0
        assert scalar(c, "SELECT to_regnamespace('real_estate')") is None


def test_other_database_on_a_server_whose_cron_lives_in_the_app_database(
    server_cron_in_app: Any,
) -> None:
    server = server_cron_in_app
    with extra_database(server) as name:
        pyrelease.migrate(server.dsn_for(name))
        jobs = cron_jobs(server, name)
        assert [(j[1], j[4]) for j in jobs] == [
            (f"{JOB}:{name}", name),
            (f"{JOB}-purge:{name}", server.cron_database),
        ]
        pyrelease.rollback(server.dsn_for(name), steps="all")
        assert cron_jobs(server, name) == []


# --------------------------------------------------------------------------- without pg_cron

PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))


@dataclass(frozen=True)
class Cluster:
    port: int
    variant: str

    @property
    def admin_dsn(self) -> str:
        return self.dsn_for("postgres")

    def dsn_for(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname} connect_timeout=10"


def _as_server_user(args: list[str]) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, cwd="/", capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module", params=["pg_cron not loaded", "pg_cron extension missing"])
def cluster_without_pg_cron(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster where pg_cron is not usable."""
    if not (PG_BINDIR / "initdb").exists():
        pytest.skip(f"no PostgreSQL binaries in {PG_BINDIR}")
    variant = str(request.param)
    base = Path(tempfile.mkdtemp(prefix="pyrelease-nocron-", dir="/tmp"))
    base.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data = base / "data"
    port = closed_port()
    try:
        done = _as_server_user(
            [
                str(PG_BINDIR / "initdb"),
                *("-D", str(data), "-U", "postgres", "--auth=trust"),
                *("--no-sync", "--encoding=UTF8", "--no-locale"),
            ]
        )
        assert done.returncode == 0, done.stderr
        settings = [
            f"port = {port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{base}'",
            "fsync = off",
        ]
        if variant == "pg_cron extension missing":
            settings += ["shared_preload_libraries = 'pg_cron'", "cron.database_name = 'postgres'"]
        conf = data / "postgresql.conf"
        conf.write_text(conf.read_text() + "\n" + "\n".join(settings) + "\n")
        done = _as_server_user(
            [
                str(PG_BINDIR / "pg_ctl"),
                *("-D", str(data), "-l", str(base / "log"), "-w", "-t", "60", "start"),
            ]
        )
        assert done.returncode == 0, (base / "log").read_text()
        cluster = Cluster(port=port, variant=variant)
        with connect_to(cluster.admin_dsn) as c:
            c.execute("CREATE DATABASE pyrelease_nocron")
        yield cluster
    finally:
        _as_server_user([str(PG_BINDIR / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(base, ignore_errors=True)


def test_without_pg_cron_migrate_warns_once_and_succeeds(
    cluster_without_pg_cron: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    dsn = cluster_without_pg_cron.dsn_for("pyrelease_nocron")
    caplog.set_level(logging.INFO, logger="pyrelease")
    try:
        ids = pyrelease.migrate(dsn)
        assert "0003.release-job" in ids
        warnings = [
            r for r in caplog.records if r.name == "pyrelease" and r.levelno >= logging.WARNING
        ]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        message = warnings[0].getMessage()
        assert NO_SCHEDULE in message
        assert "\n" not in message
        assert "pyrelease schedule" in message

        with connect_to(dsn) as c:
            assert cron.cron_setup(c) is None
            assert cron.job(c) is None
            with pytest.raises(ScheduleError, match=NO_SCHEDULE):
                cron.schedule(c)
            with pytest.raises(ScheduleError, match=NO_SCHEDULE):
                cron.unschedule(c)
    finally:
        assert pyrelease.rollback(dsn, steps="all")
    with connect_to(dsn) as c:
        assert scalar(c, "SELECT to_regnamespace('real_estate')") is None


def test_without_pg_cron_cli_schedule_fails_with_one_line(
    cluster_without_pg_cron: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = cluster_without_pg_cron.dsn_for("pyrelease_nocron")
    pyrelease.migrate(dsn)
    try:
        capsys.readouterr()
        assert main(["--dsn", dsn, "schedule"]) == 1
        out, err = capsys.readouterr()
        assert out == ""
        lines = err.splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("pyrelease: error: pg_cron is not available")
        assert NO_SCHEDULE in lines[0]

        assert main(["--dsn", dsn, "status"]) == 0
        out, _ = capsys.readouterr()
        assert "schedule: none" in out
    finally:
        pyrelease.rollback(dsn, steps="all")


# ------------------------------------------------------------------------ a job is its database's


@contextmanager
def other_superuser(server: Any, dsn: str) -> Iterator[str]:
    """`dsn` as a second superuser (a DBA who did not migrate)."""
    role = f"pyrelease_t_dba_{uuid.uuid4().hex[:8]}"
    with connect_to(server.admin_dsn) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(sql.Identifier(role)))
    try:
        yield make_conninfo(dsn, user=role)
    finally:
        with connect_to(server.admin_dsn) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_another_superuser_manages_the_same_job(server: Any, fresh_db: str) -> None:
    name = current_db(fresh_db)
    pyrelease.migrate(fresh_db)
    first = cron_jobs(server, name)
    with other_superuser(server, fresh_db) as dba:
        with connect_to(dba) as c:
            found = cron.job(c)
            assert found is not None and found.jobid == first[0][0]
            assert cron.schedule(c, cron="*/7 * * * *").jobid == first[0][0]
        assert [j[1:3] for j in cron_jobs(server, name)] == [
            (first[0][1], "*/7 * * * *"),
            (first[1][1], first[1][2]),
        ]
        pyrelease.rollback(dba, steps="all")
    assert cron_jobs(server, name) == []


def test_a_renamed_database_leaves_no_job_behind(server: Any) -> None:
    with extra_database(server, tag="old") as old:
        new = old.replace("_old_", "_new_")
        pyrelease.migrate(server.dsn_for(old))
        with connect_to(server.admin_dsn) as admin:
            admin.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    sql.Identifier(old), sql.Identifier(new)
                )
            )
        try:
            pyrelease.schedule(server.dsn_for(new))
            assert cron_jobs(server, old) == []
            assert [j[1] for j in cron_jobs(server, new)] == job_names(new)
        finally:
            drop_jobs(server, new)
            with connect_to(server.admin_dsn) as admin:
                admin.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        sql.Identifier(new), sql.Identifier(old)
                    )
                )


def release_jobs_of(server: Any, dbname: str) -> list[tuple[Any, ...]]:
    """(jobid, jobname, schedule, command, database, active) of the jobs that run in `dbname`."""
    with connect_to(server.dsn_for(server.cron_database)) as c:
        return c.execute(
            "SELECT jobid, jobname::text, schedule, command, database, active FROM cron.job"
            " WHERE database = %s ORDER BY jobid",
            (dbname,),
        ).fetchall()


def test_a_crafted_database_name_cannot_take_another_databases_job(server: Any) -> None:
    long = f"pyrelease_t_long_{uuid.uuid4().hex[:8]}_" + "x" * 30
    with extra_database(server, long) as victim:
        pyrelease.migrate(server.dsn_for(victim))
        [victim_job] = release_jobs_of(server, victim)
        crafted = victim_job[1].removeprefix(f"{JOB}:")  # its job name would be the same
        assert len(crafted.encode()) < 63
        try:
            with extra_database(server, crafted) as attacker:
                pyrelease.migrate(server.dsn_for(attacker))
                assert release_jobs_of(server, victim) == [victim_job]
                [mine] = release_jobs_of(server, attacker)
                assert mine[1] != victim_job[1]
                pyrelease.rollback(server.dsn_for(attacker), steps="all")
                assert release_jobs_of(server, attacker) == []
                assert release_jobs_of(server, victim) == [victim_job]
        finally:
            pyrelease.rollback(server.dsn_for(victim), steps="all")


# --------------------------------------------------------------------------- migrate converges


def test_migrate_recreates_a_missing_job(server: Any, fresh_db: str) -> None:
    name = current_db(fresh_db)
    pyrelease.migrate(fresh_db)
    drop_jobs(server, name)
    assert pyrelease.migrate(fresh_db) == []
    assert [j[1:3] for j in cron_jobs(server, name)] == [
        (job_names(name)[0], EVERY_5),
        (job_names(name)[1], cron.PURGE_SCHEDULE),
    ]


def test_migrate_repairs_an_altered_job_and_keeps_its_schedule(server: Any, conn: Conn) -> None:
    name = current_db(conn)
    job = cron.schedule(conn, cron="*/9 * * * *", retention="7 days")
    with connect_to(server.dsn_for(server.cron_database)) as c:
        c.execute("SELECT cron.alter_job(%s, command := 'SELECT 1', active := false)", (job.jobid,))
        c.execute(
            "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = %s",
            (job_names(name)[1],),
        )
    pyrelease.migrate(server.dsn_for(name))
    # the schedule kept; the command (its retention gone with it) and the purge job restored
    assert release_job(server, name)[2:] == ("*/9 * * * *", COMMAND, name, True)
    assert cron.job(conn) == replace(job, command=COMMAND)
    assert len(cron_jobs(server, name)) == 2


def test_migrate_raises_a_job_s_retention_under_a_day_to_a_day(
    server: Any, conn: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    """A retention under 1 day (accepted before 0.2.0) is refused by the routines now: the
    job would fail on every run. migrate keeps its schedule and keeps the logs 1 day."""
    name = current_db(conn)
    job = cron.schedule(conn, cron="*/9 * * * *", retention="7 days")
    with connect_to(server.dsn_for(server.cron_database)) as c:
        c.execute(
            "SELECT cron.alter_job(%s, command := %s)",
            (job.jobid, "CALL real_estate.run_release_job(p_retention => '12:00:00')"),
        )
    with caplog.at_level(logging.WARNING, logger="pyrelease"):
        pyrelease.migrate(server.dsn_for(name))
    assert release_job(server, name)[2:] == (
        "*/9 * * * *",
        "CALL real_estate.run_release_job(p_retention => '1 day')",
        name,
        True,
    )
    [warned] = [r.getMessage() for r in caplog.records if "retention" in r.getMessage()]
    assert "at least 1 day" in warned and "kept 1 day instead" in warned


def test_migrate_fails_when_pg_cron_refuses_the_job(
    server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with owner_database(server, read_settings=True, cron_grants=False) as (dsn, name, _):
        try:
            capsys.readouterr()
            assert main(["--dsn", dsn, "migrate"]) == 1
            out, err = capsys.readouterr()
            assert "Traceback" not in err
            [line] = [x for x in err.splitlines() if x.startswith("pyrelease: error:")]
            assert "release job could not be registered" in line
            assert "permission denied" in line
            assert len(err.splitlines()) == 1, err
            assert cron_jobs(server, name) == []

            # the next migrate tries again (0003 is applied: it would say "up to date")
            assert main(["--dsn", dsn, "migrate"]) == 1
            capsys.readouterr()

            assert main(["--dsn", dsn, "migrate", "--no-schedule"]) == 0
            out, err = capsys.readouterr()
            assert out == "already up to date\n"
            assert cron_jobs(server, name) == []
        finally:
            pyrelease.rollback(dsn, steps="all")


def test_migrate_no_schedule_registers_nothing(
    server: Any, fresh_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pyrelease")
    assert main(["migrate", "--no-schedule", "--dsn", fresh_db]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == ["no release schedule was created (--no-schedule)"]
    assert cron_jobs(server, current_db(fresh_db)) == []
