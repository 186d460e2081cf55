"""Monitoring with least privilege (docs/monitoring.md).

* real_estate_monitor: a login that is a member and holds nothing else runs `status`,
  `status --check` and `status --json`, and calls real_estate.release_health();
* the one health rule: release_health() and `status --check`/`--json` (which runs the same
  body, loaded from the package) give the same verdict in every case of the rule;
* the registration the rule reads (real_estate.release_schedule), written by schedule,
  migrate and unschedule; schedules that do not repeat at a computable interval refused;
* the exporter's files with Debian's real binaries: prometheus-postgres-exporter scraped as a
  monitor, `promtool check rules` and `promtool test rules`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from factories import (
    closed_port,
    connect_to,
    cron_jobs,
    current_db,
    make_project,
    make_properties,
    make_workspace,
    monitor_login,
    run_main,
    scalar,
)
from psycopg.conninfo import conninfo_to_dict

import pyrelease
from pyrelease import cron
from pyrelease.queries import routine_body
from pyrelease.script import Script

Conn = psycopg.Connection[Any]
REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "monitoring"
EXPORTER = "prometheus-postgres-exporter"
PROMTOOL = "promtool"
COMMAND = "CALL real_estate.run_release_job()"


@pytest.fixture
def monitor(db: str) -> Iterator[str]:
    """DSN of `db` as a login that is a member of real_estate_monitor, with nothing else."""
    with monitor_login(db) as dsn:
        yield dsn


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (`make setup` installs it)")
    return found


# --------------------------------------------------------------------------- the role


def test_the_monitoring_role_holds_exactly_what_status_needs(conn: Conn, monitor: str) -> None:
    """SELECT on the tables status reads and on yoyo's log (the release events too: how long
    they are held back from consumers), EXECUTE on release_health(): nothing it could write,
    no other routine."""
    role = "real_estate_monitor"
    readable = conn.execute(
        "SELECT c.oid::regclass::text FROM pg_class AS c"
        " WHERE c.relnamespace IN ('real_estate'::regnamespace, 'public'::regnamespace)"
        "   AND c.relkind IN ('r', 'v', 'S') AND has_table_privilege(%s, c.oid, 'SELECT')"
        " ORDER BY 1",
        (role,),
    ).fetchall()
    assert [r[0] for r in readable] == [
        "_yoyo_migration",
        "real_estate.project",
        "real_estate.property",
        "real_estate.release_event",
        "real_estate.release_heartbeat",
        "real_estate.release_run",
        "real_estate.release_schedule",
        "real_estate.workspace",
    ]
    writable = conn.execute(
        "SELECT c.oid::regclass::text, p.priv FROM pg_class AS c,"
        " unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'])"
        "   AS p(priv)"
        " WHERE c.relnamespace IN ('real_estate'::regnamespace, 'public'::regnamespace)"
        "   AND has_table_privilege(%s, c.oid, p.priv)",
        (role,),
    ).fetchall()
    assert writable == []
    executable = conn.execute(
        "SELECT p.proname FROM pg_proc AS p WHERE p.pronamespace = 'real_estate'::regnamespace"
        " AND has_function_privilege(%s, p.oid, 'EXECUTE')",
        (role,),
    ).fetchall()
    assert executable == [("release_health",)]
    with connect_to(monitor) as c:
        assert scalar(c, "SELECT healthy FROM real_estate.release_health()") is False


def test_a_monitor_runs_status_check_and_json(
    capsys: pytest.CaptureFixture[str], conn: Conn, monitor: str
) -> None:
    """A monitor failed with 'permission denied for schema cron'."""
    conn.execute(COMMAND)  # a scheduled run just finished
    register(conn, "*/5 * * * *", ago="2 days")
    code, out, err = run_main(capsys, "--dsn", monitor, "status")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"database: {current_db(conn)}"
    assert re.fullmatch(
        r"schedule: 'pyrelease-test-job' '\*/5 \* \* \* \*' active as registered \S+ \S+,"
        r" pg_cron in 'postgres'",
        lines[1],
    ), lines[1]
    assert "last pg_cron runs: not shown (only the owner and superusers read pg_cron's)" in lines
    code, out, err = run_main(capsys, "--dsn", monitor, "status", "--check")
    assert (code, err, out.splitlines()[-1]) == (0, "", "health: ok")
    code, out, err = run_main(capsys, "--dsn", monitor, "status", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["healthy"] is True and report["reason"] == "ok"
    assert report["pg_cron"] is None  # pg_cron's tables: the owner's and superusers' only


def test_status_gives_the_age_of_the_oldest_event_held_back_to_a_monitor(
    capsys: pytest.CaptureFixture[str], conn: Conn, monitor: str
) -> None:
    """A transaction that may still commit an event id before committed ones holds them back
    from every consumer: status (text and --json) says for how long, as a monitor."""
    holder = uuid.uuid4()
    ws = make_workspace(conn)
    a, b = make_properties(conn, ws, make_project(conn, ws), 2, "RESERVED", False, holder)
    ws2 = make_workspace(conn)
    [c] = make_properties(conn, ws2, make_project(conn, ws2), 1, "RESERVED", False, holder)

    def figures() -> tuple[str, float]:
        code, out, err = run_main(capsys, "--dsn", monitor, "status")
        assert (code, err) == (0, "")
        [line] = [x for x in out.splitlines() if x.startswith("event feed: ")]
        code, out, err = run_main(capsys, "--dsn", monitor, "status", "--json")
        assert (code, err) == (0, "")
        return line, json.loads(out)["event_feed_held_back_seconds"]

    assert figures() == ("event feed: flowing", 0)
    with connect_to(conn.info.dsn, autocommit=False) as slow:
        assert pyrelease.cancel(slow, a, holder)  # its id in flight
        assert pyrelease.cancel(conn, c, holder)  # committed after it: held back
        line, seconds = figures()
        assert seconds > 0
        assert line.startswith("event feed: held back ") and "is open" in line
        slow.commit()
    assert figures() == ("event feed: flowing", 0)
    assert pyrelease.cancel(conn, b, holder)


def test_json_carries_the_contract_and_check_sets_the_exit_code(
    capsys: pytest.CaptureFixture[str], conn: Conn
) -> None:
    ws = make_workspace(conn)
    make_properties(conn, ws, make_project(conn, ws), 2, "RESERVED", expired=True)
    dsn = conn.info.dsn
    code, out, err = run_main(capsys, "--dsn", dsn, "status", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert len(out.splitlines()) == 1
    assert report["healthy"] is False
    assert report["reason"].startswith("no release job is scheduled")
    assert report["backlog"] == 2
    assert report["oldest_expired_seconds"] > 3600
    assert report["last_scheduled_run_finished_at"] is None
    assert report["counter_drift"] == 0
    assert report["job"] is None
    conn.execute(COMMAND)
    job = cron.schedule(conn, "*/5 * * * *")
    try:
        code, out, err = run_main(capsys, "--dsn", dsn, "status", "--json", "--check")
        report = json.loads(out)
        assert (code, report["healthy"], report["backlog"]) == (0, True, 0), err
        finished = report["last_scheduled_run_finished_at"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", finished), finished
        assert report["job"] == {
            "name": job.name,
            "schedule": "*/5 * * * *",
            "active": True,
            "interval_seconds": 300.0,
            "cron_database": job.cron_database,
            "timezone": "GMT",
            "registered_at": report["job"]["registered_at"],
        }
        assert report["pg_cron"]["job"]["jobid"] == job.jobid
        set_active(conn, job, False)  # paused behind pyrelease's back: seen by its owner
        code, out, err = run_main(capsys, "--dsn", dsn, "status", "--json", "--check")
        report = json.loads(out)
        assert report["healthy"] is False
        assert report["reason"] == f"job {job.name!r} is inactive"
        assert (code, err) == (1, f"pyrelease: error: unhealthy: {report['reason']}\n")
    finally:
        cron.unschedule(conn)


# --------------------------------------------------------------------------- the one rule


def register(
    conn: Conn, schedule: str, ago: str = "2 days", active: bool = True, name: str = ""
) -> None:
    """The release job as pyrelease registers it, `ago` (without pg_cron: the rule reads only
    this row)."""
    conn.execute(
        "INSERT INTO real_estate.release_schedule (job_name, jobid, schedule, cron_database,"
        " schedule_interval, active, registered_at) VALUES (%s, 1, %s, 'postgres', %s, %s,"
        " now() - %s::interval)",
        (name or "pyrelease-test-job", schedule, cron.interval(schedule), active, ago),
    )


def scheduled_run(conn: Conn, started: str, finished: str | None, failed: int = 0) -> None:
    """A scheduled run in the heartbeat (and in the run log when it failed rows), as
    record_release_heartbeat records it: a run that has not finished only starts."""
    conn.execute(
        "SELECT real_estate.record_release_heartbeat(now() - %s::interval, false)", (started,)
    )
    if finished is not None:
        conn.execute(
            "UPDATE real_estate.release_heartbeat SET finished_at = greatest(finished_at,"
            " now() - %s::interval)",
            (finished,),
        )
    if failed:
        conn.execute(
            "INSERT INTO real_estate.release_run (source, started_at, finished_at, failed)"
            " VALUES ('pg_cron', now() - %s::interval, now() - %s::interval, %s)",
            (started, finished, failed),
        )


def expired_since(conn: Conn, ago: str) -> None:
    ws = make_workspace(conn)
    until = scalar(conn, "SELECT now() - %s::interval", (ago,))
    make_properties(conn, ws, make_project(conn, ws), 1, "RESERVED", reserved_until=until)


def drifted(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        make_properties(conn, ws, project, 1, "AVAILABLE")


Setup = Callable[[Conn], None]
# name: (set-up, healthy, what the reason says (a regular expression))
RULE_CASES: dict[str, tuple[Setup, bool, str]] = {
    "no job": (lambda c: None, False, r"no release job is scheduled \(or pg_cron is missing\)"),
    "a new job waits for its first run": (
        lambda c: register(c, "*/5 * * * *", ago="1 second"),
        True,
        r"ok: waiting for the first run",
    ),
    "a new job's first run is due before an old backlog counts": (
        lambda c: (register(c, "*/5 * * * *", ago="1 second"), expired_since(c, "1 hour")),
        True,
        r"ok: waiting for the first run",
    ),
    "never ran": (
        lambda c: register(c, "*/5 * * * *"),
        False,
        r"no scheduled run has finished yet",
    ),
    "last run older than two intervals": (
        lambda c: (register(c, "*/5 * * * *"), scheduled_run(c, "21 minutes", "20 minutes")),
        False,
        r"last scheduled run finished 20m0\ds ago \(limit 10m00s\)",
    ),
    "last run within two intervals": (
        lambda c: (register(c, "*/5 * * * *"), scheduled_run(c, "9 minutes", "9 minutes")),
        True,
        r"ok",
    ),
    "a run in progress is not a missed one": (
        lambda c: (
            register(c, "*/5 * * * *"),
            scheduled_run(c, "31 minutes", "30 minutes"),
            scheduled_run(c, "2 minutes", None),
        ),
        True,
        r"ok",
    ),
    "a run killed long ago is no run in progress": (
        lambda c: (
            register(c, "*/5 * * * *"),
            scheduled_run(c, "31 minutes", "30 minutes"),
            scheduled_run(c, "15 minutes", None),
        ),
        False,
        r"last scheduled run finished 30m0\ds ago \(limit 10m00s\)",
    ),
    "an expired reservation waits longer than two intervals": (
        lambda c: (
            register(c, "*/5 * * * *"),
            scheduled_run(c, "1 minute", "1 minute"),
            expired_since(c, "20 minutes"),
        ),
        False,
        r"1 expired reservation\(s\) waiting, oldest 20m0\ds \(limit 10m00s\)",
    ),
    "an expired reservation within two intervals": (
        lambda c: (
            register(c, "*/5 * * * *"),
            scheduled_run(c, "1 minute", "1 minute"),
            expired_since(c, "9 minutes"),
        ),
        True,
        r"ok",
    ),
    "a seconds schedule gets the 5-minute floor": (
        lambda c: (register(c, "10 seconds"), scheduled_run(c, "4 minutes", "4 minutes")),
        True,
        r"ok",
    ),
    "a seconds schedule past the floor": (
        lambda c: (register(c, "10 seconds"), scheduled_run(c, "6 minutes", "6 minutes")),
        False,
        r"last scheduled run finished 6m0\ds ago \(limit 5m00s\)",
    ),
    # a long release: without the floor, a 10-second schedule's limit would be 20 seconds,
    # and a run started 2 minutes ago would no longer count as in progress
    "a seconds schedule's long release is in progress, not stale": (
        lambda c: (
            register(c, "10 seconds"),
            scheduled_run(c, "3 minutes", "3 minutes"),
            scheduled_run(c, "2 minutes", None),
            expired_since(c, "2 minutes"),
        ),
        True,
        r"ok",
    ),
    "a seconds schedule's run in progress past the floor": (
        lambda c: (
            register(c, "10 seconds"),
            scheduled_run(c, "7 minutes", "7 minutes"),
            scheduled_run(c, "6 minutes", None),
        ),
        False,
        r"last scheduled run finished 7m0\ds ago \(limit 5m00s\)",
    ),
    "a long schedule": (
        lambda c: (register(c, "@daily", ago="5 days"), scheduled_run(c, "40 hours", "40 hours")),
        True,
        r"ok",
    ),
    "inactive job": (
        lambda c: (
            register(c, "*/5 * * * *", active=False),
            scheduled_run(c, "1 minute", "1 minute"),
        ),
        False,
        r"job 'pyrelease-test-job' is inactive",
    ),
    "counter drift": (
        lambda c: (
            register(c, "*/5 * * * *"),
            scheduled_run(c, "1 minute", "1 minute"),
            drifted(c),
        ),
        False,
        r"counters: 1 project\(s\) drifted \(rows written past the triggers\);"
        r" as the owner run SELECT real_estate\.repair_counters\(\)",
    ),
    "failed rows are a metric, not a verdict": (
        lambda c: (register(c, "*/5 * * * *"), scheduled_run(c, "1 minute", "1 minute", 3)),
        True,
        r"ok",
    ),
}
VERDICT = (
    "healthy",
    "problems",
    "backlog",
    "backlog_stale",
    "last_scheduled_run_finished_at",
    "scheduled_run_stale",
    "run_in_progress",
    "waiting_for_first_run",
    "limit_seconds",
    "failed_rows",
    "counter_drift",
)


def without_ages(text: Any) -> Any:
    """Ages in a reason, which two reads a moment apart may write differently."""
    if isinstance(text, list):
        return [without_ages(t) for t in text]
    if not isinstance(text, str):
        return text
    return re.sub(r"\b\d+(?:\.\d)?s\b|\b\d+m\d\ds\b|\b\d+h\d\dm\b", "<age>", text)


@pytest.mark.parametrize("case", list(RULE_CASES))
def test_the_function_status_check_and_json_give_one_verdict(
    capsys: pytest.CaptureFixture[str], conn: Conn, monitor: str, case: str
) -> None:
    set_up, healthy, reason = RULE_CASES[case]
    set_up(conn)
    with connect_to(monitor) as c:
        cur = c.execute("SELECT * FROM real_estate.release_health()")
        names = [d.name for d in cur.description or []]
        row = dict(zip(names, cur.fetchone() or (), strict=True))
    assert row["healthy"] is healthy, row["reason"]
    assert re.fullmatch(reason, row["reason"]), row["reason"]

    code, out, err = run_main(capsys, "--dsn", monitor, "status", "--json", "--check")
    report = json.loads(out)
    assert code == (0 if healthy else 1), err
    for key in VERDICT:
        expected = row[key].isoformat() if hasattr(row[key], "isoformat") else row[key]
        assert without_ages(report[key]) == without_ages(expected), key
    assert without_ages(report["reason"]) == without_ages(row["reason"])
    assert report["job"] == (
        None
        if row["job_name"] is None
        else {
            "name": row["job_name"],
            "schedule": row["job_schedule"],
            "active": row["job_active"],
            "interval_seconds": row["job_interval_seconds"],
            "cron_database": "postgres",
            "timezone": row["job_timezone"],
            "registered_at": row["job_registered_at"].isoformat(),
        }
    )
    code, out, err = run_main(capsys, "--dsn", monitor, "status", "--check")
    if healthy:
        assert (code, err) == (0, "")
        assert out.splitlines()[-1].startswith("health: ok")
    else:
        assert code == 1
        assert without_ages(err) == without_ages(f"pyrelease: error: unhealthy: {row['reason']}\n")


def test_without_counters_the_rule_skips_the_scan(conn: Conn, monitor: str) -> None:
    """The exporter reads the rule every scrape without the counter drift (a scan of
    property), and the drift apart (cached)."""
    register(conn, "*/5 * * * *")
    scheduled_run(conn, "1 minute", "1 minute")
    drifted(conn)
    with connect_to(monitor) as c:
        assert c.execute(
            "SELECT healthy, counter_drift FROM real_estate.release_health(false)"
        ).fetchone() == (True, None)
        assert c.execute(
            "SELECT healthy, counter_drift FROM real_estate.release_health()"
        ).fetchone() == (False, 1)

    def scans_of_project(counters: bool) -> list[str]:
        explain = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
        cur = psycopg.RawCursor(conn)
        cur.execute(explain + routine_body("release_health"), (counters,))
        plan = [r[0] for r in cur.fetchall()]
        return [line for line in plan if " on project " in line and "never executed" not in line]

    assert scans_of_project(False) == []
    assert scans_of_project(True) != []


def test_the_rule_s_plan_stays_under_jit_s_threshold(conn: Conn) -> None:
    """Every scrape runs the rule: a plan estimated past jit_above_cost (100,000 by default)
    is JIT-compiled at each call, about 600 ms instead of 2 ms (a heartbeat read that the
    planner took for thousands of rows did that). Read on tables never analyzed, as after an
    install, with a job, its heartbeat and runs in the log."""
    register(conn, "10 seconds")
    scheduled_run(conn, "1 minute", "1 minute", failed=1)
    cur = psycopg.RawCursor(conn)
    for counters in (False, True):
        cur.execute("EXPLAIN (FORMAT JSON) " + routine_body("release_health"), (counters,))
        row = cur.fetchone()
        assert row is not None
        cost = row[0][0]["Plan"]["Total Cost"]
        assert cost < float(scalar(conn, "SHOW jit_above_cost")), (counters, cost)


# --------------------------------------------------------------------------- registration


def registration(conn: Conn) -> tuple[Any, ...] | None:
    return conn.execute(
        "SELECT job_name, jobid, schedule, cron_database, schedule_interval, active,"
        " registered_at FROM real_estate.release_schedule"
    ).fetchone()


def set_active(conn: Conn, job: cron.Job, active: bool) -> None:
    target = conn if job.cron_database == current_db(conn) else None
    dsn = conn.info.dsn
    params = conninfo_to_dict(dsn)
    params["dbname"] = job.cron_database
    with target or psycopg.connect(**params, autocommit=True) as c:  # type: ignore[arg-type]
        c.execute("SELECT cron.alter_job(%s, active := %s)", (job.jobid, active))


def test_schedule_migrate_and_unschedule_keep_the_registration(db: str, conn: Conn) -> None:
    job = cron.schedule(conn, "*/10 * * * *")
    try:
        name, jobid, schedule, cron_db, every, active, at = registration(conn) or ()
        assert (name, jobid, schedule, cron_db, every, active) == (
            job.name,
            job.jobid,
            "*/10 * * * *",
            job.cron_database,
            timedelta(minutes=10),
            True,
        )
        pyrelease.migrate(db)  # re-registers the same job: registered_at does not move
        assert registration(conn) == (name, jobid, schedule, cron_db, every, active, at)
        cron.schedule(conn, "0 * * * *")
        again = registration(conn)
        assert again is not None and again[2:4] == ("0 * * * *", cron_db) and again[6] > at
        # a job registered before the table existed is recorded as pg_cron has it by the
        # install's convergence (what migrate and yoyo apply run)
        conn.execute("DELETE FROM real_estate.release_schedule")
        script = Script(conn, live=True)
        cron.converge(script)
        script.close()
        assert (registration(conn) or ())[:6] == (
            name,
            jobid,
            "0 * * * *",
            cron_db,
            timedelta(hours=1),
            True,
        )
    finally:
        cron.unschedule(conn)
    assert registration(conn) is None


def test_a_schedule_that_does_not_repeat_is_refused(
    capsys: pytest.CaptureFixture[str], server: Any, db: str, conn: Conn
) -> None:
    """`schedule --cron @reboot` was accepted, and `--check` then said healthy
    with reservations expired an hour ago."""
    expired_since(conn, "1 hour")
    conn.execute(COMMAND)  # a scheduled run finished (before the reservation is due again)
    code, out, err = run_main(capsys, "--dsn", db, "schedule", "--cron", "@reboot")
    assert code == 1 and out == "", out
    assert err == (
        "pyrelease: error: invalid cron expression '@reboot': `status --check` cannot tell when"
        " it runs (it runs only when the server starts, not at a regular interval)\n"
    )
    assert cron_jobs(server, current_db(conn)) == []
    assert registration(conn) is None
    code, _, err = run_main(capsys, "--dsn", db, "status", "--check")
    assert code == 1 and "unhealthy: no release job is scheduled" in err


def test_a_job_rescheduled_behind_pyrelease_s_back_is_a_problem_for_its_owner(
    capsys: pytest.CaptureFixture[str], db: str, conn: Conn, monitor: str
) -> None:
    job = cron.schedule(conn, "*/5 * * * *")
    try:
        conn.execute(COMMAND)
        set_schedule(conn, job, "@reboot")
        code, _, err = run_main(capsys, "--dsn", db, "status", "--check")
        assert code == 1
        assert err == (
            f"pyrelease: error: unhealthy: job {job.name!r} runs at '@reboot' in pg_cron,"
            " registered at '*/5 * * * *' (`pyrelease schedule --cron ...` registers it)\n"
        )
        # the monitor does not see pg_cron: the rule catches it once two runs are missed
        assert run_main(capsys, "--dsn", monitor, "status", "--check")[0] == 0
        conn.execute(
            "UPDATE real_estate.release_heartbeat SET started_at = now() - interval '12 minutes',"
            " finished_at = now() - interval '11 minutes'"
        )
        assert run_main(capsys, "--dsn", monitor, "status", "--check")[0] == 1
    finally:
        cron.unschedule(conn)


def set_schedule(conn: Conn, job: cron.Job, schedule: str) -> None:
    params = conninfo_to_dict(conn.info.dsn)
    params["dbname"] = job.cron_database
    with psycopg.connect(**params, autocommit=True) as c:  # type: ignore[arg-type]
        c.execute("UPDATE cron.job SET schedule = %s WHERE jobid = %s", (schedule, job.jobid))


# --------------------------------------------------------------------------- the exporter


def scrape(port: int, timeout: float = 20.0) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The exporter's /metrics: name -> [(labels, value)]."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                text = r.read().decode()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    series: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        found = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if found is None or line.startswith("#"):
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', found[2] or ""))
        series.setdefault(found[1], []).append((labels, float(found[3])))
    return series


@pytest.fixture
def exporter(monitor: str) -> Iterator[int]:
    """Debian's prometheus-postgres-exporter with monitoring/postgres_exporter.yml, as the
    monitor, on a free port; yields the port."""
    path = binary(EXPORTER)
    params = conninfo_to_dict(monitor)
    host = params.get("host") or "localhost"
    url = (
        f"postgresql://{params['user']}:{params['password']}@{host}:{params.get('port', 5432)}"
        f"/{params['dbname']}?sslmode=disable"
    )
    port = closed_port()
    process = subprocess.Popen(
        [
            path,
            f"--extend.query-path={MONITORING / 'postgres_exporter.yml'}",
            "--disable-default-metrics",
            "--disable-settings-metrics",
            "--no-collector.database",
            "--no-collector.bgwriter",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        env={**os.environ, "DATA_SOURCE_NAME": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_exporter_scraped_as_a_monitor_gives_the_rule_s_figures(
    conn: Conn, request: pytest.FixtureRequest
) -> None:
    register(conn, "*/5 * * * *")
    scheduled_run(conn, "90 seconds", "90 seconds", failed=2)
    expired_since(conn, "20 minutes")
    expired_since(conn, "3 minutes")
    drifted(conn)
    port = request.getfixturevalue("exporter")
    series = scrape(port)
    database = current_db(conn)

    def value(name: str) -> float:
        [(labels, found)] = series[name]
        assert labels["datname"] == database and labels["server"], labels
        return found

    assert value("pyrelease_healthy") == 0  # the expired reservation waited 20 minutes
    assert value("pyrelease_backlog") == 2
    assert value("pyrelease_backlog_stale") == 1
    assert 1200 <= value("pyrelease_oldest_expired_seconds") < 1500
    assert 90 <= value("pyrelease_last_scheduled_run_age_seconds") < 390
    assert value("pyrelease_scheduled_run_stale") == 0
    assert value("pyrelease_run_in_progress") == 0
    assert value("pyrelease_waiting_for_first_run") == 0
    assert value("pyrelease_limit_seconds") == 600
    assert value("pyrelease_failed_rows") == 2
    assert value("pyrelease_job_active") == 1
    assert value("pyrelease_job_interval_seconds") == 300
    assert value("pyrelease_counter_drift") == 1
    assert value("pyrelease_event_feed_held_back_seconds") == 0  # nothing held back
    [(_, scrape_error)] = series["pg_exporter_last_scrape_error"]
    assert scrape_error == 0
    # the promtool tests' series are named and labelled as the exporter gives them
    tested = (MONITORING / "alerts_test.yml").read_text()
    for name, labels in set(re.findall(r"series: '(pyrelease_\w+)\{([^}]*)\}'", tested)):
        assert name in series, name
        keys = {k for k in re.findall(r"(\w+)=", labels)} - {"job", "instance"}
        assert set(series[name][0][0]) == keys, name


def test_alert_rules_check_and_pass_their_tests() -> None:
    promtool = binary(PROMTOOL)
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]):
        done = subprocess.run(
            [promtool, *args], cwd=MONITORING, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS" in done.stdout


def test_every_alert_of_the_issue_has_a_rule() -> None:
    rules = (MONITORING / "alerts.yml").read_text()
    expressions = dict(re.findall(r"- alert: (\w+)\n\s+expr: (.+)", rules))
    assert expressions == {
        "PyreleaseMetricsMissing": "absent(pyrelease_healthy)",
        "PyreleaseUnhealthy": "pyrelease_healthy == 0",
        "PyreleaseBacklogStale": "pyrelease_backlog_stale == 1",
        "PyreleaseNoScheduledRun": "pyrelease_scheduled_run_stale == 1",
        "PyreleaseFailedRows": "pyrelease_failed_rows > 0",
        "PyreleaseCounterDrift": "pyrelease_counter_drift > 0",
        "PyreleaseEventFeedStalled": "pyrelease_event_feed_held_back_seconds > 300",
    }


def test_status_runs_the_body_the_package_ships() -> None:
    """One body, two callers: the text status runs is the installed function's."""
    body = routine_body("release_health")
    source = (REPO / "plpgsql" / "release_health.sql").read_text()
    assert body.startswith("WITH job AS (") and body.endswith("FROM verdict AS v")
    assert f"$body$\nBEGIN\nRETURN QUERY\n{body};\nEND\n$body$" in source
    assert sys.modules["pyrelease.health"].routine_body is routine_body
