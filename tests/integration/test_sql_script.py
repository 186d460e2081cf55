"""`pyrelease migrate --sql` and `rollback --sql`: the script printed from a database's state,
applied by real psql, gives the database `pyrelease migrate` (or `rollback`) builds, after
which migrate has nothing left to do; printing changes nothing; migrate runs the very
statements the script holds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from factories import connect_to, cron_jobs, current_db, migration_ids, scalar
from pgserver import PG_BINDIR
from psycopg.conninfo import make_conninfo
from schema_dump import SNAPSHOT, dump
from test_migrations import applied, schema_exists, snapshot, user_objects

import pyrelease
from pyrelease import migrations
from pyrelease.cron import JOBID_VARIABLE
from pyrelease.script import Script

PSQL = str(PG_BINDIR / "psql") if (PG_BINDIR / "psql").exists() else "psql"


def cli(*args: str, pgoptions: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PGOPTIONS"] = pgoptions
    return subprocess.run(
        [sys.executable, "-m", "pyrelease.cli", *args],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def printed(dsn: str, *command: str) -> str:
    done = cli("--dsn", dsn, *command, "--sql")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def psql(dsn: str, script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "script.sql"
    path.write_text(script)
    return subprocess.run(
        [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def routines_state(dsn: str) -> tuple[Any, ...]:
    """When the routines were installed, and their oids: a re-install changes both."""
    with connect_to(dsn) as c:
        return (
            scalar(c, "SELECT installed_at FROM real_estate.routine_source"),
            scalar(
                c,
                "SELECT array_agg(oid ORDER BY oid) FROM pg_proc"
                " WHERE pronamespace = 'real_estate'::regnamespace",
            ),
        )


def assert_nothing_left(server: Any, dsn: str) -> None:
    """What migrate does after the script: nothing (no migration, no routine, the job)."""
    jobs = cron_jobs(server, current_db(dsn))
    routines = routines_state(dsn)
    assert printed(dsn, "migrate").splitlines() == ["-- nothing to do: the database is up to date"]
    assert pyrelease.migrate(dsn) == []
    assert routines_state(dsn) == routines
    assert cron_jobs(server, current_db(dsn)) == jobs and len(jobs) == 2


def test_fresh_database(server: Any, fresh_db: str, tmp_path: Path) -> None:
    before = user_objects(fresh_db)
    script = printed(fresh_db, "migrate")
    assert user_objects(fresh_db) == before, "printing changed the database"
    assert cron_jobs(server, current_db(fresh_db)) == []

    done = psql(fresh_db, script, tmp_path)

    assert done.returncode == 0, done.stderr
    assert dump(fresh_db) == SNAPSHOT.read_text()
    assert applied(fresh_db) == migration_ids()
    with connect_to(fresh_db) as c:
        assert scalar(c, "SELECT count(*) FROM public.yoyo_lock") == 0
        log = c.execute(
            "SELECT migration_id, operation, username, comment FROM public._yoyo_log"
            " ORDER BY created_at_utc"
        ).fetchall()
    assert log == [
        (m, "apply", "postgres", f"pyrelease {pyrelease.__version__}") for m in migration_ids()
    ]
    assert_nothing_left(server, fresh_db)
    pyrelease.rollback(fresh_db, steps="all")


def test_every_partly_migrated_database(
    server: Any, fresh_db: str, db: str, tmp_path: Path
) -> None:
    """From each state a rollback leaves (every landed migration's SQL and Python, the
    routines and the job re-created or not), the script gives what migrate gives."""
    ids = migration_ids()
    pyrelease.migrate(fresh_db)
    pyrelease.migrate(db)
    for steps in range(1, len(ids) + 1):
        for dsn in (fresh_db, db):
            assert pyrelease.rollback(dsn, steps=steps) == list(reversed(ids))[:steps]
        done = psql(fresh_db, printed(fresh_db, "migrate"), tmp_path)
        assert done.returncode == 0, (steps, done.stderr)
        assert pyrelease.migrate(db) == ids[-steps:]
        assert applied(fresh_db) == ids, steps
        assert snapshot(fresh_db) == snapshot(db), steps
        assert_nothing_left(server, fresh_db)
    pyrelease.rollback(fresh_db, steps="all")


def test_rollback_sql(server: Any, fresh_db: str, db: str, tmp_path: Path) -> None:
    pristine = user_objects(fresh_db)
    pyrelease.migrate(fresh_db)
    pyrelease.migrate(db)
    ids = migration_ids()
    for steps in (3, 5):
        pyrelease.rollback(db, steps=steps)
        done = psql(fresh_db, printed(fresh_db, "rollback", "--steps", str(steps)), tmp_path)
        assert done.returncode == 0, done.stderr
        assert applied(fresh_db) == applied(db) == ids[:-steps]
        assert snapshot(fresh_db) == snapshot(db)
        pyrelease.migrate(fresh_db)
        pyrelease.migrate(db)
    assert cron_jobs(server, current_db(fresh_db))

    done = psql(fresh_db, printed(fresh_db, "rollback", "--all"), tmp_path)

    assert done.returncode == 0, done.stderr
    assert not schema_exists(fresh_db)
    assert applied(fresh_db) == []
    assert user_objects(fresh_db) == pristine
    assert cron_jobs(server, current_db(fresh_db)) == []
    assert printed(fresh_db, "rollback", "--all").splitlines() == [
        "-- nothing to do: the database is up to date"
    ]


def test_non_transactional_steps_stand_outside_transaction_blocks(fresh_db: str) -> None:
    script = migrations.migrate_sql(fresh_db)
    outside_bodies = re.sub(r"\$(\w*)\$.*?\$\1\$", "$$", script, flags=re.DOTALL)
    inside, concurrently = False, []
    for line in outside_bodies.splitlines():
        if line == "BEGIN;":
            inside = True
        elif line == "COMMIT;":
            inside = False
        elif "CONCURRENTLY" in line and not line.lstrip().startswith("--"):
            concurrently.append((line.strip(), inside))
    assert len(concurrently) >= 4
    assert all(not inside for _, inside in concurrently), concurrently
    # each transactional migration in its own BEGIN/COMMIT, with its bookkeeping
    assert outside_bodies.count("\nBEGIN;") == outside_bodies.count("\nCOMMIT;")
    marks = re.findall(
        r"INSERT INTO public\._yoyo_migration .*VALUES \('[0-9a-f]{64}', '([^']+)'", script
    )
    assert marks == migration_ids()


def test_migrate_runs_the_statements_the_script_holds(
    server: Any, fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One planning code: what migrate sends, in order and database by database, is what
    the script prints (but for the lock the script takes itself: migrate holds yoyo's)."""
    sent: dict[bool, list[tuple[str, str]]] = {True: [], False: []}
    run, take_back = Script.run, Script.take_back

    def recording_run(
        self: Script, query: Any, params: Any = None, database: Any = None, gset: Any = None
    ) -> Any:
        sent[self.live].append((database or self.database, self.render(query, params)))
        return run(self, query, params, database, gset)

    def recording_take_back(self: Script, database: str, text: str) -> bool:
        sent[self.live].remove((database, text))
        return take_back(self, database, text)

    monkeypatch.setattr(Script, "run", recording_run)
    monkeypatch.setattr(Script, "take_back", recording_take_back)
    migrations.migrate_sql(fresh_db)
    pyrelease.migrate(fresh_db)

    def plain(statements: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [
            (
                db,
                re.sub(
                    r" *(INSERT INTO|CREATE TABLE IF NOT EXISTS) public\.yoyo_lock.*\n", "", text
                ),
            )
            for db, text in statements
            if "yoyo_lock" not in text or text.startswith("DO $pyrelease$")
        ]

    # a new job's id: known live, psql's variable (set by \gset) in the printed script
    jobid = scalar(connect_to(fresh_db), "SELECT jobid FROM real_estate.release_schedule")
    printed_ = [(db, t.replace(JOBID_VARIABLE, str(jobid))) for db, t in sent[False]]
    assert plain(printed_) == plain(sent[True])
    assert len(sent[True]) > 100
    pyrelease.rollback(fresh_db, steps="all")


def test_a_stale_script_is_refused_and_leaves_no_lock(fresh_db: str, tmp_path: Path) -> None:
    script = printed(fresh_db, "migrate")
    pyrelease.migrate(fresh_db, schedule=False)

    done = psql(fresh_db, script, tmp_path)

    assert done.returncode != 0
    assert "the database changed since this was planned" in done.stderr
    with connect_to(fresh_db) as c:
        assert scalar(c, "SELECT count(*) FROM public.yoyo_lock") == 0
    assert pyrelease.migrate(fresh_db, schedule=False) == []
    pyrelease.rollback(fresh_db, steps="all")


def test_the_script_runs_only_as_the_role_it_was_printed_for(
    server: Any, fresh_db: str, tmp_path: Path
) -> None:
    script = printed(fresh_db, "migrate")
    with connect_to(server.admin_dsn) as admin:
        admin.execute("DROP ROLE IF EXISTS pyrelease_sql_other")
        admin.execute("CREATE ROLE pyrelease_sql_other LOGIN SUPERUSER")
    try:
        done = psql(make_conninfo(fresh_db, user="pyrelease_sql_other"), script, tmp_path)
        assert done.returncode != 0
        assert "run this as role postgres" in done.stderr
        assert not schema_exists(fresh_db)
    finally:
        with connect_to(server.admin_dsn) as admin:
            admin.execute("DROP ROLE pyrelease_sql_other")


def test_printing_needs_the_owner_and_shows_no_password(
    server: Any, db: str, tmp_path: Path
) -> None:
    with connect_to(db) as c:
        c.execute("DROP ROLE IF EXISTS pyrelease_sql_intruder")
        c.execute("CREATE ROLE pyrelease_sql_intruder LOGIN PASSWORD 's3cret-pw'")
    try:
        done = cli(
            "--dsn",
            make_conninfo(db, user="pyrelease_sql_intruder", password="s3cret-pw"),
            "migrate",
            "--sql",
        )
        assert done.returncode == 1  # the owner is superuser: pyrelease's tables are not his
        [line] = done.stderr.splitlines()
        assert "s3cret" not in line
        assert done.stdout == ""
    finally:
        with connect_to(db) as c:
            c.execute("DROP ROLE pyrelease_sql_intruder")
    with_password = make_conninfo(db, password="owner-pw-123")
    for command in (("migrate",), ("rollback", "--all")):
        done = cli("--dsn", with_password, *command, "--sql")
        assert done.returncode == 0, done.stderr
        assert "owner-pw-123" not in done.stdout + done.stderr
        assert "\\connect" not in done.stdout or "owner-pw" not in done.stdout


@pytest.mark.parametrize(
    "args",
    [("migrate", "--sql", "--break-lock"), ("rollback", "--sql", "--steps", "0")],
)
def test_bad_usage_is_one_line(db: str, args: tuple[str, ...]) -> None:
    done = cli("--dsn", db, *args)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_bad_dsn_is_one_line() -> None:
    done = cli("--dsn", "postgresql://nobody:pw-secret@127.0.0.1:1/x", "migrate", "--sql")
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert "pw-secret" not in line and done.stdout == ""


def test_pg_cron_in_the_application_database(server_cron_in_app: Any, tmp_path: Path) -> None:
    """No `\\connect`: the job is registered in the database the script runs in."""
    srv = server_cron_in_app
    dsn = srv.dsn_for(srv.cron_database)
    script = printed(dsn, "migrate")
    assert not re.search(r"^\\connect", script, re.M) and "cron.schedule_in_database" in script
    try:
        done = psql(dsn, script, tmp_path)
        assert done.returncode == 0, done.stderr
        with connect_to(dsn) as c:
            jobs = c.execute("SELECT jobname, database FROM cron.job").fetchall()
        assert jobs == [("release-expired-reservations", srv.cron_database)]
        assert printed(dsn, "migrate").startswith("-- nothing to do")
    finally:
        pyrelease.rollback(dsn, steps="all")


def test_the_job_of_a_dropped_database_goes_with_the_script(
    server: Any, fresh_db: str, tmp_path: Path
) -> None:
    """A release job whose database was dropped without a rollback (an orphan) is removed,
    with its purge job, by the script that registers this database's new job: the new job's
    id is not known when the script is printed, the orphans are found all the same."""
    from factories import extra_database
    from psycopg import sql

    with extra_database(server, tag="gone") as gone:
        pyrelease.migrate(server.dsn_for(gone))
        orphans = cron_jobs(server, gone)
        assert len(orphans) == 2
        with connect_to(server.admin_dsn) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(gone)))
        script = printed(fresh_db, "migrate")
        assert all(f"cron.unschedule({job[0]}" in script for job in orphans), script[-3000:]

        done = psql(fresh_db, script, tmp_path)

        assert done.returncode == 0, done.stderr
        assert cron_jobs(server, gone) == []
        assert len(cron_jobs(server, current_db(fresh_db))) == 2
        assert_nothing_left(server, fresh_db)
    pyrelease.rollback(fresh_db, steps="all")
