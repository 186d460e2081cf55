"""The `pyrelease` command line: every command, DSN resolution, and failures that are one
line on stderr with a non-zero exit, never a traceback, and change nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

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
    installed_ago,
    job_names,
    make_project,
    make_properties,
    make_workspace,
    migration_ids,
    run_main,
    scalar,
)
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

Conn = psycopg.Connection[Any]
COMMAND = "CALL real_estate.run_release_job()"
NEVER_SOON = "0 0 1 1 *"  # a schedule that does not fire while a test runs
TABLES = ("workspace", "project", "property", "release_run", "release_event")
PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))
ERROR_LINE = re.compile(r"^pyrelease: error: \S")
USAGE_ERROR_LINE = re.compile(r"^pyrelease(?: [a-z]+)?: error: \S")
COMMANDS = (
    ["migrate"],
    ["rollback", "--all"],
    ["release"],
    ["release", "--property-id", str(uuid.uuid4())],
    ["status"],
    ["status", "--check"],
    ["schedule"],
    ["unschedule"],
)


# --------------------------------------------------------------------------- helpers


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(extra)
    return env


def run_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyrelease.cli", *args],
        cwd="/",
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_error_line(code: int, err: str, expected: int = 1) -> str:
    assert code == expected, err
    assert "Traceback" not in err
    lines = err.splitlines()
    if expected == 2:  # argparse: usage, then one error line
        assert USAGE_ERROR_LINE.match(lines[-1]), err
        assert all(line.startswith(("usage:", " ")) for line in lines[:-1]), err
        return lines[-1]
    assert len(lines) == 1, err
    assert ERROR_LINE.match(lines[0]), err
    return lines[0]


def state(server: Any, dsn: str) -> dict[str, Any]:
    """What a command could change: row counts, the property rows, the applied migrations,
    the migration lock and this database's pg_cron jobs."""
    with connect_to(dsn) as c:
        snap: dict[str, Any] = {}
        migrated = scalar(c, "SELECT to_regnamespace('real_estate') IS NOT NULL")
        if migrated:
            for table in TABLES:
                snap[table] = scalar(c, f"SELECT count(*) FROM real_estate.{table}")
            snap["property rows"] = scalar(
                c,
                "SELECT md5(coalesce(string_agg(p::text, ',' ORDER BY p.id), ''))"
                " FROM real_estate.property AS p",
            )
        if scalar(c, "SELECT to_regclass('public._yoyo_migration') IS NOT NULL"):
            snap["applied"] = c.execute(
                "SELECT migration_id FROM public._yoyo_migration ORDER BY 1"
            ).fetchall()
            snap["lock"] = scalar(c, "SELECT count(*) FROM public.yoyo_lock")
        name = scalar(c, "SELECT current_database()")
    snap["jobs"] = cron_jobs(server, name)
    return snap


def as_url(dsn: str, scheme: str = "postgresql") -> str:
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    dbname = params.pop("dbname")
    query = urlencode(params)
    return f"{scheme}:///{quote(dbname, safe='')}" + (f"?{query}" if query else "")


@pytest.fixture(scope="module")
def shared(server: Any, template_db: str) -> Iterator[str]:
    """One migrated database for the tests that must change nothing (each one checks that)."""
    name = f"pyrelease_cli_{os.getpid()}"
    with connect_to(server.admin_dsn) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    try:
        yield server.dsn_for(name)
    finally:
        drop_jobs(server, name)
        with connect_to(server.admin_dsn) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def expired(db: str) -> list[uuid.UUID]:
    """Two expired reservations (oldest first) and one that has not expired, in `db`."""
    with connect_to(db) as c:
        workspace = make_workspace(c)
        project = make_project(c, workspace)
        ids = make_properties(c, workspace, project, 2, "RESERVED", expired=True)
        make_properties(c, workspace, project, 1, "RESERVED", expired=False)
    return ids


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    "bad_dsn",
    [
        "host=/nonexistent port=1",
        "not a dsn =",
        "postgresql://postgres@localhost:{port}/postgres",
        "host=127.0.0.1 port={port} dbname=postgres user=postgres",
    ],
    ids=["missing socket", "unparsable", "closed port url", "closed port"],
)
def test_unusable_dsn_is_one_line_for_every_command(
    capsys: pytest.CaptureFixture[str], server: Any, shared: str, bad_dsn: str
) -> None:
    bad_dsn = bad_dsn.format(port=closed_port())
    before = state(server, shared)
    for command in COMMANDS:
        code, out, err = run_main(capsys, "--dsn", bad_dsn, *command)
        line = assert_one_error_line(code, err)
        assert out == ""
        if bad_dsn == "not a dsn =":
            assert line.startswith("pyrelease: error: invalid connection string:"), line
    assert state(server, shared) == before


def test_unusable_dsn_in_a_subprocess_has_no_traceback() -> None:
    for dsn, command in (
        ("host=/nonexistent port=1", "migrate"),
        ("not a dsn =", "status"),
        (f"host=localhost port={closed_port()}", "schedule"),
    ):
        done = run_process("--dsn", dsn, command)
        assert_one_error_line(done.returncode, done.stderr)
        assert done.stdout == ""


@pytest.mark.parametrize("existing_job", [False, True])
def test_invalid_cron_expression(
    capsys: pytest.CaptureFixture[str], server: Any, shared: str, existing_job: bool
) -> None:
    if existing_job:  # a job that does not fire during the test
        assert run_main(capsys, "--dsn", shared, "schedule", "--cron", NEVER_SOON)[0] == 0
    try:
        before = state(server, shared)
        code, out, err = run_main(capsys, "--dsn", shared, "schedule", "--cron", "every day")
        line = assert_one_error_line(code, err)
        assert line.startswith("pyrelease: error: invalid cron expression 'every day'"), line
        assert out == ""
        assert state(server, shared) == before
    finally:
        drop_jobs(server, current_db(shared))


def test_invalid_cron_expression_in_a_subprocess(server: Any, shared: str) -> None:
    before = state(server, shared)
    done = run_process("--dsn", shared, "schedule", "--cron", "every day")
    assert_one_error_line(done.returncode, done.stderr)
    assert state(server, shared) == before


@pytest.mark.parametrize("retention", ["banana", "-1 day", "0"])
def test_invalid_retention(
    capsys: pytest.CaptureFixture[str], server: Any, shared: str, retention: str
) -> None:
    before = state(server, shared)
    code, _, err = run_main(capsys, "--dsn", shared, "schedule", "--retention", retention)
    assert "retention" in assert_one_error_line(code, err)
    assert state(server, shared) == before


USAGE_ERRORS: list[list[str]] = [
    ["release", "--property-id", "nope"],
    ["release", "--batch-size", "0"],
    ["release", "--batch-size", "-5"],
    ["release", "--batch-size", "abc"],
    ["release", "--batch-size", str(2**31)],
    ["rollback", "--steps", "0"],
    ["rollback", "--steps", "-1"],
    ["rollback", "--steps", "2", "--all"],
    ["rollback", "--all", "--steps", "3"],
    ["schedule", "--cron"],
    ["frobnicate"],
    [],
]


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=lambda a: " ".join(a) or "no command")
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], server: Any, shared: str, args: list[str]
) -> None:
    before = state(server, shared)
    code, out, err = run_main(capsys, "--dsn", shared, *args)
    assert_one_error_line(code, err, expected=2)
    assert out == ""
    assert state(server, shared) == before


def test_rollback_steps_1_and_all_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], server: Any, db: str
) -> None:
    before = state(server, db)
    code, _, err = run_main(capsys, "--dsn", db, "rollback", "--steps", "1", "--all")
    assert_one_error_line(code, err, expected=2)
    assert state(server, db) == before


def test_usage_errors_in_a_subprocess(server: Any, shared: str) -> None:
    before = state(server, shared)
    for args in (["release", "--property-id", "nope"], ["rollback", "--steps", "0"]):
        done = run_process("--dsn", shared, *args)
        line = assert_one_error_line(done.returncode, done.stderr, expected=2)
        assert line.startswith(f"pyrelease {args[0]}: error: argument"), line
    assert state(server, shared) == before


@pytest.mark.parametrize(
    "command", [["status"], ["release"], ["release", "--property-id", str(uuid.uuid4())]]
)
def test_commands_on_a_database_not_migrated(
    capsys: pytest.CaptureFixture[str], server: Any, fresh_db: str, command: list[str]
) -> None:
    before = state(server, fresh_db)
    code, _, err = run_main(capsys, "--dsn", fresh_db, *command)
    assert_one_error_line(code, err)
    assert state(server, fresh_db) == before


# --------------------------------------------------------------------------- DSN resolution


def test_dsn_option_beats_database_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, shared: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{closed_port()}/nope")
    code, out, err = run_main(capsys, "--dsn", shared, "status")
    assert code == 0, err
    assert out.splitlines()[0] == f"database: {current_db(shared)}"


def test_database_url_beats_pg_variables(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, shared: str
) -> None:
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(closed_port()))
    monkeypatch.setenv("PGDATABASE", "nope")
    monkeypatch.setenv("DATABASE_URL", shared)
    code, out, err = run_main(capsys, "status")
    assert code == 0, err
    assert out.splitlines()[0] == f"database: {current_db(shared)}"

    # without DATABASE_URL, the wrong PG* variables are used (and fail in one line)
    monkeypatch.delenv("DATABASE_URL")
    code, _, err = run_main(capsys, "status")
    assert_one_error_line(code, err)


def test_database_url_may_carry_a_driver_suffix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, shared: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", as_url(shared, "postgresql+psycopg"))
    code, out, err = run_main(capsys, "status")
    assert code == 0, err
    assert out.splitlines()[0] == f"database: {current_db(shared)}"


def test_pg_variables_are_used_when_nothing_else_is_given(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, server: Any, db: str
) -> None:
    params = conninfo_to_dict(db)
    name = current_db(db)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for var in ("PGSERVICE", "PGHOSTADDR", "PGOPTIONS"):
        monkeypatch.delenv(var, raising=False)
    for key, var in {
        "host": "PGHOST",
        "port": "PGPORT",
        "user": "PGUSER",
        "password": "PGPASSWORD",
    }.items():
        if params.get(key):
            monkeypatch.setenv(var, str(params[key]))
    monkeypatch.setenv("PGDATABASE", name)

    code, out, err = run_main(capsys, "status")
    assert code == 0, err
    assert out.splitlines()[0] == f"database: {name}"

    # pg_cron lives in another database: its connection is derived from the same variables
    code, out, err = run_main(capsys, "schedule")
    assert code == 0, err
    assert [j[1] for j in cron_jobs(server, name)] == job_names(name)
    code, out, err = run_main(capsys, "unschedule")
    assert (code, out) == (0, "release job removed\n"), err
    assert cron_jobs(server, name) == []


# --------------------------------------------------------------------------- commands


def test_migrate_and_rollback(
    capsys: pytest.CaptureFixture[str], server: Any, fresh_db: str
) -> None:
    ids_dir = migration_ids()
    assert len(ids_dir) >= 4
    with connect_to(fresh_db) as c:
        assert scalar(c, "SELECT to_regnamespace('real_estate')") is None
    name = current_db(fresh_db)

    code, out, err = run_main(capsys, "--dsn", fresh_db, "migrate")
    assert code == 0, err
    assert out == f"applied {', '.join(ids_dir)}\n"
    assert "Traceback" not in err
    assert [j[1] for j in cron_jobs(server, name)] == job_names(name)

    code, out, _ = run_main(capsys, "--dsn", fresh_db, "migrate")
    assert (code, out) == (0, "already up to date\n")

    code, out, _ = run_main(capsys, "--dsn", fresh_db, "rollback")
    assert (code, out) == (0, f"rolled back {ids_dir[-1]}\n")
    code, out, _ = run_main(capsys, "--dsn", fresh_db, "rollback", "--steps", "2")
    assert (code, out) == (0, f"rolled back {ids_dir[-2]}, {ids_dir[-3]}\n")
    code, out, _ = run_main(capsys, "--dsn", fresh_db, "rollback", "--all")
    assert (code, out) == (0, f"rolled back {', '.join(reversed(ids_dir[:-3]))}\n")
    code, out, _ = run_main(capsys, "--dsn", fresh_db, "rollback", "--all")
    assert (code, out) == (0, "nothing to roll back\n")

    with connect_to(fresh_db) as c:
        assert scalar(c, "SELECT to_regnamespace('real_estate')") is None
    assert cron_jobs(server, name) == []


def test_migrate_break_lock(capsys: pytest.CaptureFixture[str], db: str) -> None:
    with connect_to(db) as c:
        c.execute("INSERT INTO public.yoyo_lock (locked, ctime, pid) VALUES (1, now(), 4242)")
    code, out, err = run_main(capsys, "--dsn", db, "migrate", "--break-lock")
    assert code == 0, err
    # (the template's job was unscheduled: migrate registers it again, and says so)
    assert out.splitlines()[0] == "migration lock cleared"
    assert out.splitlines()[1:] == [f"registered the release job {job_names(current_db(db))[0]!r}"]
    with connect_to(db) as c:
        assert scalar(c, "SELECT count(*) FROM public.yoyo_lock") == 0


@pytest.mark.slow
def test_migrate_behind_a_stale_lock_says_how_to_clear_it(
    capsys: pytest.CaptureFixture[str], server: Any, db: str
) -> None:
    with connect_to(db) as c:
        c.execute("INSERT INTO public.yoyo_lock (locked, ctime, pid) VALUES (1, now(), 4242)")
    before = state(server, db)
    code, _, err = run_main(capsys, "--dsn", db, "migrate")
    line = assert_one_error_line(code, err)
    assert "--break-lock" in line
    assert state(server, db) == before


def test_status_release_and_release_one(
    capsys: pytest.CaptureFixture[str], db: str, expired: list[uuid.UUID]
) -> None:
    name = current_db(db)
    code, out, err = run_main(capsys, "--dsn", db, "status")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"database: {name}"
    assert lines[1] == "schedule: none (`pyrelease schedule` creates it; it needs pg_cron)"
    assert re.fullmatch(
        r"backlog: 2 expired reservation\(s\) not yet released, oldest expired \S+ ago", lines[2]
    ), lines[2]
    assert "last release runs: none" in lines

    first, _ = expired
    code, out, err = run_main(capsys, "--dsn", db, "release", "--property-id", str(first))
    assert (code, out) == (0, f"{first}: released\n"), err
    code, out, _ = run_main(capsys, "--dsn", db, "release", "--property-id", str(first))
    assert (code, out) == (0, f"{first}: nothing to release\n")

    code, out, err = run_main(capsys, "--dsn", db, "release", "--batch-size", "1")
    assert (code, out) == (0, "released 1 expired reservation(s)\n"), err
    code, out, _ = run_main(capsys, "--dsn", db, "release")
    assert (code, out) == (0, "released 0 expired reservation(s)\n")

    with connect_to(db) as c:
        runs = c.execute(
            "SELECT source, released, failed, finished_at IS NOT NULL"
            " FROM real_estate.release_run ORDER BY id"
        ).fetchall()
        assert runs == [("call", 1, 0, True), ("call", 1, 0, True)]
        statuses = c.execute(
            "SELECT status FROM real_estate.property WHERE id = ANY (%s)", (expired,)
        ).fetchall()
        assert statuses == [("AVAILABLE",), ("AVAILABLE",)]
        run_ids = [r[0] for r in c.execute("SELECT id FROM real_estate.release_run ORDER BY id")]

    code, out, _ = run_main(capsys, "--dsn", db, "status")
    lines = out.splitlines()
    assert "backlog: 0 expired reservation(s) not yet released" in lines
    assert "last release runs:" in lines
    runs_shown = lines[lines.index("last release runs:") + 1 :]
    assert [
        re.match(r"  #(\d+) call .* -> .*: 1 released, 0 failed$", x) is not None
        for x in runs_shown
    ] == [True, True], runs_shown
    assert runs_shown[0].startswith(f"  #{run_ids[-1]} ")


def test_schedule_status_unschedule(
    capsys: pytest.CaptureFixture[str], server: Any, db: str
) -> None:
    name = current_db(db)
    code, out, err = run_main(capsys, "--dsn", db, "schedule", "--cron", "*/10 * * * *")
    assert code == 0, err
    [job] = [j for j in cron_jobs(server, name) if j[1] == f"{JOB}:{name}"]
    assert job[2:] == ("*/10 * * * *", COMMAND, name, True)
    assert out == (
        f"job '{JOB}:{name}' (id {job[0]}) runs '{COMMAND}' at '*/10 * * * *'"
        f" in database '{name}' (pg_cron in '{server.cron_database}')\n"
    )

    code, out, _ = run_main(capsys, "--dsn", db, "status")
    assert code == 0
    assert (
        f"schedule: '{JOB}:{name}' '*/10 * * * *' active,"
        f" pg_cron in '{server.cron_database}', job id {job[0]}"
    ) in out.splitlines()

    code, out, _ = run_main(capsys, "--dsn", db, "schedule", "--retention", "7 days")
    assert code == 0
    assert "p_retention => '7 days'" in out
    assert len(cron_jobs(server, name)) == 2

    code, out, _ = run_main(capsys, "--dsn", db, "unschedule")
    assert (code, out) == (0, "release job removed\n")
    assert cron_jobs(server, name) == []
    code, out, _ = run_main(capsys, "--dsn", db, "unschedule")
    assert (code, out) == (0, "no release job was scheduled\n")
    code, out, _ = run_main(capsys, "--dsn", db, "status")
    assert "schedule: none (`pyrelease schedule` creates it; it needs pg_cron)" in out


def test_status_shows_pg_cron_runs(
    capsys: pytest.CaptureFixture[str], server: Any, db: str
) -> None:
    name = current_db(db)
    assert run_main(capsys, "--dsn", db, "schedule")[0] == 0
    [job] = [j for j in cron_jobs(server, name) if j[1] == f"{JOB}:{name}"]
    with connect_to(server.dsn_for(server.cron_database)) as c:
        c.execute(
            "INSERT INTO cron.job_run_details (jobid, runid, job_pid, database, username,"
            " command, status, return_message, start_time, end_time)"
            " VALUES (%s, nextval('cron.runid_seq'), 1, %s, current_user, %s, 'failed',"
            " %s, now() - interval '3 s', now())",
            (job[0], name, COMMAND, "ERROR:  boom\nCONTEXT:  PL/pgSQL function x\n\tline 2\n"),
        )
    try:
        code, out, _ = run_main(capsys, "--dsn", db, "status")
        assert code == 0
        lines = out.splitlines()
        shown = lines[lines.index("last pg_cron runs:") + 1]
        expected = r"  \S+ \S+ failed \(3\.\ds\) ERROR: boom CONTEXT: PL/pgSQL function x line 2"
        assert re.fullmatch(expected, shown), shown
        assert lines[lines.index("last pg_cron runs:") + 2] == "last release runs: none"
    finally:
        with connect_to(server.dsn_for(server.cron_database)) as c:
            c.execute("DELETE FROM cron.job_run_details WHERE jobid = %s", (job[0],))


@pytest.mark.parametrize(
    "args",
    [
        ["migrate", "--dsn", "{dsn}"],
        ["status", "--dsn", "{dsn}"],
        ["release", "--batch-size", "5", "--dsn", "{dsn}"],
        ["--dsn", "{closed}", "status", "--dsn", "{dsn}"],  # the last one wins
    ],
)
def test_dsn_before_or_after_the_command(
    capsys: pytest.CaptureFixture[str], db: str, args: list[str]
) -> None:
    closed = f"postgresql://postgres@127.0.0.1:{closed_port()}/nope"
    code, _, err = run_main(capsys, *(a.format(dsn=db, closed=closed) for a in args))
    assert code == 0, err


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--dsn", "{bad}"],
        ["--dsn", "{bad}", "status"],
        ["migrate", "--dsn", "{bad}", "--bogus"],
        ["--dsn", "{bad}", "schedule", "--cron"],
        ["status", "--dsn", "host=127.0.0.1 port={port} password=s3cret user=u"],
        ["status", "--dsn", "postgresql://u:s3cret@[bad"],
        ["status", "--bogus", "postgresql://u:s3cret@h/d", "password=s3cret"],
    ],
)
def test_a_password_is_never_printed(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    port = closed_port()
    bad = f"postgresql://u:s3cret@127.0.0.1:{port}/nope"
    code, out, err = run_main(capsys, *(a.format(bad=bad, port=port) for a in args))
    assert code in (1, 2)
    assert "s3cret" not in out + err
    assert "Traceback" not in err


# Malformed connection strings whose password libpq cuts into pieces and echoes
# ('invalid percent-encoded token: "S3cret%Pw"', "failed to resolve host 'Pw@127.0.0.1'",
# 'missing "=" after "Pw"'): the password is made of the pieces below, and no output may
# show any of them.
PIECES = ("Zq7Sec", "Pw9k")
MALFORMED_DSNS = [
    "postgresql://u:Zq7Sec%Pw9k@127.0.0.1:{port}/db",
    "postgresql://u:Zq7Sec@Pw9k@127.0.0.1:{port}/db",
    "postgresql://u:Zq7Sec/Pw9k@127.0.0.1:{port}/db",
    "postgresql://u:Zq7Sec:Pw9k@127.0.0.1:{port}/db",
    "postgresql://u:Zq7Sec#Pw9k@127.0.0.1:{port}/db",
    "postgresql://u:Zq7Sec?Pw9k@127.0.0.1:{port}/db",
    "postgresql://u:Zq7Sec Pw9k@127.0.0.1:{port}/db",
    "postgresql://u:Zq7Sec@[Pw9k@127.0.0.1:{port}/db",
    "postgresql://u:Zq7Sec%Pw9k@[::1",
    "postgresql+psycopg://u:Zq7Sec%Pw9k@127.0.0.1:{port}/db",
    "postgresql://127.0.0.1:{port}/db?password=Zq7Sec%Pw9k",
    "postgresql://127.0.0.1:{port}/db?password=Zq7Sec&Pw9k",
    "postgresql://127.0.0.1:{port}/db?user=u&password=Zq7Sec%zzPw9k&sslmode=bogus",
    "host=127.0.0.1 port={port} user=u password=Zq7Sec Pw9k",
    "host=127.0.0.1 port={port} password='Zq7Sec Pw9k",
    "host=127.0.0.1 port={port} password=Zq7Sec'Pw9k",
    "host=127.0.0.1 port={port} password=Zq7Sec=Pw9k",
    "password = Zq7Sec\\ Pw9k port={port} host=127.0.0.1",
    "host=127.0.0.1 port={port} password=Zq7Sec%Pw9k sslmode=nonsense",
]


@pytest.mark.parametrize("via", ["--dsn", "DATABASE_URL"])
@pytest.mark.parametrize("dsn", MALFORMED_DSNS)
def test_no_piece_of_a_password_in_any_output(dsn: str, via: str) -> None:
    """Malformed DSNs printed the password or pieces of it."""
    dsn = dsn.format(port=closed_port())
    if via == "--dsn":
        done = run_process("--dsn", dsn, "status")
    else:
        done = run_process("status", env=clean_env(DATABASE_URL=dsn))
    assert_one_error_line(done.returncode, done.stderr)
    for piece in PIECES:
        assert piece not in done.stdout + done.stderr, done.stderr


@pytest.mark.parametrize("expr", ["² seconds", "99999999999999999999 seconds", "1" * 20])
def test_schedule_odd_numbers_is_one_error_line(
    capsys: pytest.CaptureFixture[str], server: Any, db: str, expr: str
) -> None:
    before = state(server, db)
    code, _, err = run_main(capsys, "--dsn", db, "schedule", "--cron", expr)
    line = assert_one_error_line(code, err)
    assert line.startswith(f"pyrelease: error: invalid cron expression {expr!r}"), line
    assert state(server, db) == before


@pytest.mark.parametrize("expr", ["² seconds", "99999999999999999999 seconds"])
def test_pyrelease_schedule_raises_only_package_errors(db: str, expr: str) -> None:
    import pyrelease

    with pytest.raises(pyrelease.InvalidArgument):
        pyrelease.schedule(db, cron=expr)


def test_status_check(capsys: pytest.CaptureFixture[str], server: Any, db: str) -> None:
    code, out, err = run_main(capsys, "--dsn", db, "status", "--check")
    line = assert_one_error_line(code, err)
    assert "no release job is scheduled" in line
    assert out.startswith("database: ")

    assert run_main(capsys, "--dsn", db, "schedule", "--cron", "*/5 * * * *")[0] == 0
    installed_ago(db, "2 days")  # installed long ago, never ran
    code, _, err = run_main(capsys, "--dsn", db, "status", "--check")
    assert "no scheduled run has finished yet" in assert_one_error_line(code, err)

    with connect_to(db) as c:
        c.execute(COMMAND)
    code, out, err = run_main(capsys, "--dsn", db, "status", "--check")
    assert code == 0, err
    assert out.splitlines()[-1] == "health: ok"

    name = current_db(db)
    [job] = [j for j in cron_jobs(server, name) if j[1] == f"{JOB}:{name}"]
    with connect_to(server.dsn_for(server.cron_database)) as c:
        c.execute("SELECT cron.alter_job(%s, active := false)", (job[0],))
    code, _, err = run_main(capsys, "--dsn", db, "status", "--check")
    assert "is inactive" in assert_one_error_line(code, err)


def test_status_check_right_after_install_waits_for_the_first_run(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    assert run_main(capsys, "--dsn", db, "schedule", "--cron", "*/5 * * * *")[0] == 0
    installed_ago(db, "1 second")
    code, out, err = run_main(capsys, "--dsn", db, "status", "--check")
    assert code == 0, err
    assert re.fullmatch(
        r"health: ok \(waiting for the first run, due \S+ \S+\)", out.splitlines()[-1]
    )

    installed_ago(db, "11 minutes")  # two runs missed
    code, _, err = run_main(capsys, "--dsn", db, "status", "--check")
    assert "no scheduled run has finished yet" in assert_one_error_line(code, err)


def test_status_check_with_a_macro_schedule(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, _, err = run_main(capsys, "--dsn", db, "schedule", "--cron", "@hourly")
    assert code == 0, err
    with connect_to(db) as c:
        c.execute(COMMAND)
    code, out, err = run_main(capsys, "--dsn", db, "status", "--check")
    assert code == 0, err
    assert out.splitlines()[-1] == "health: ok"


def test_status_in_a_subprocess(shared: str) -> None:
    done = run_process("--dsn", shared, "status")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"database: {current_db(shared)}\n")
    assert done.stderr == ""


INDEX_MIGRATION = "0004.property-reserved-until-idx"


def test_failed_non_transactional_migration_is_one_line(server: Any, fresh_db: str) -> None:
    import pyrelease

    ids = migration_ids()
    if INDEX_MIGRATION not in ids:
        pytest.skip(f"no migration {INDEX_MIGRATION}")
    pyrelease.migrate(fresh_db)
    pyrelease.rollback(fresh_db, steps=len(ids) - ids.index(INDEX_MIGRATION))
    with connect_to(fresh_db) as c:
        workspace = make_workspace(c)
    blocker = psycopg.connect(fresh_db)  # a transaction that wrote to property and stays open
    try:
        make_properties(blocker, workspace, None, 1)
        env = clean_env(PGOPTIONS="-c statement_timeout=1000")
        done = run_process("--dsn", fresh_db, "migrate", env=env)
    finally:
        blocker.rollback()
        blocker.close()
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    pyrelease.rollback(fresh_db, steps="all")


def test_status_check_reports_counter_drift_and_repair(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    """Drift from writes past the triggers shows in status --check."""
    assert run_main(capsys, "--dsn", db, "schedule", "--cron", "@hourly")[0] == 0
    with connect_to(db) as c:
        c.execute(COMMAND)
        ws = c.execute(
            "INSERT INTO real_estate.workspace (name, activation_status) VALUES ('w', 'ACTIVE')"
            " RETURNING id"
        ).fetchone()
        assert ws is not None
        project = c.execute(
            "INSERT INTO real_estate.project (workspace_id, name) VALUES (%s, 'p') RETURNING id",
            (ws[0],),
        ).fetchone()
        assert project is not None
        with c.transaction():
            c.execute("SET LOCAL session_replication_role = replica")
            c.execute(
                "INSERT INTO real_estate.property (workspace_id, project_id, name, status)"
                " VALUES (%s, %s, 'x', 'AVAILABLE')",
                (ws[0], project[0]),
            )
    code, out, err = run_main(capsys, "--dsn", db, "status", "--check")
    line = assert_one_error_line(code, err)
    assert "counters: 1 project(s) drifted" in line
    assert "real_estate.repair_counters()" in line
    assert "counters: 1 project(s) drifted" in out
    with connect_to(db) as c:
        assert c.execute("SELECT real_estate.repair_counters()").fetchone() == (1,)
    code, out, err = run_main(capsys, "--dsn", db, "status", "--check")
    assert code == 0, err
    assert "counters: exact" in out.splitlines()
    assert out.splitlines()[-1] == "health: ok"


def test_grants_prints_a_quoted_script_and_refuses_bad_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The grants script (the script itself is run verbatim by tests/matrix, owner config)."""
    code, out, err = run_main(
        capsys, "--dsn", "postgresql://dba:secret@h/app", "grants", "--owner", 'o"x'
    )
    assert code == 0, err
    assert 'GRANT USAGE ON SCHEMA cron TO "o""x";' in out
    assert "\\connect 'app'" in out and "\\connect 'postgres'" in out
    assert "secret" not in out
    assert "pg_read_all_settings" not in out
    code, out, err = run_main(
        capsys, "grants", "--owner", "o", "--database", "app", "--cron-database", "jobs"
    )
    assert code == 0, err
    assert 'GRANT pg_read_all_settings TO "o";' in out
    for bad in (["--owner", ""], ["--owner", "x" * 64]):
        code, _, err = run_main(capsys, "grants", "--database", "app", *bad)
        assert "invalid owner name" in assert_one_error_line(code, err)


@pytest.mark.parametrize(
    "owner",
    ["public", "PUBLIC", "current_user", "session_user", "current_role", "none", "pg_monitor"],
)
def test_grants_refuses_a_reserved_role_as_owner(
    capsys: pytest.CaptureFixture[str], owner: str
) -> None:
    """GRANT ... TO "public" grants to PUBLIC: everybody would get pg_cron's functions."""
    code, out, err = run_main(capsys, "grants", "--owner", owner, "--database", "app")
    assert "reserved" in assert_one_error_line(code, err)
    assert out == ""


@pytest.mark.parametrize("name", ["postgresql://evil/app", "postgres://evil/app", "host=evil"])
@pytest.mark.parametrize("flag", ["--database", "--cron-database"])
def test_grants_refuses_a_database_name_psql_reads_as_a_connection_string(
    capsys: pytest.CaptureFixture[str], flag: str, name: str
) -> None:
    args = {"--database": "app", "--cron-database": "postgres", flag: name}
    code, out, err = run_main(
        capsys, "grants", "--owner", "o", *[x for kv in args.items() for x in kv]
    )
    assert "connection string" in assert_one_error_line(code, err)
    assert out == ""


def test_grants_script_connects_to_a_database_whose_name_breaks_the_line(
    capsys: pytest.CaptureFixture[str], server: Any
) -> None:
    """psql ends a meta-command at the end of its line: a raw line break in the name split
    the \\connect line (the script failed half-way). Run for real, as a superuser."""
    role = f"pyrelease_t_grants_{uuid.uuid4().hex[:8]}"
    with connect_to(server.admin_dsn) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    try:
        with extra_database(server, name=f"pyrelease_t_grants\n{role[-8:]}") as name:
            code, script, err = run_main(
                capsys,
                "grants",
                "--owner",
                role,
                "--database",
                name,
                "--cron-database",
                server.cron_database,
            )
            assert code == 0, err
            done = subprocess.run(
                [psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", server.admin_dsn],
                input=script,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            with connect_to(server.admin_dsn) as admin:
                assert scalar(
                    admin, "SELECT has_database_privilege(%s, %s, 'CREATE')", (role, name)
                )
    finally:
        with connect_to(server.dsn_for(server.cron_database)) as c:
            c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        with connect_to(server.admin_dsn) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def psql_binary() -> str:
    found = PG_BINDIR / "psql"
    return str(found) if found.exists() else "psql"
