"""pyrelease on pg_cron 1.6, what the managed services run (Debian's 1.4.2 stays the suite's
default; the matrix's ``*_cron16`` configurations run the release there): schedules in seconds
and on the month's last day, the zone pg_cron reads schedules in (``cron.timezone``), a
scheduler that launches no job (``cron.launch_active_jobs = off``), and a long release on a
10-second schedule, which the health rule's 5-minute floor keeps from being called stale.

Servers (pgserver.CONFIGURATIONS): ``cron16`` (the matrix's) and ``cron16_berlin``
(``cron.timezone = 'Europe/Berlin'``), started on first use, skipped without the build.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from factories import (
    connect_to,
    extra_database,
    make_project,
    make_properties,
    make_workspace,
    monitor_login,
    run_main,
    scalar,
)

import pyrelease
from pyrelease import cron

Conn = psycopg.Connection[Any]
COMMAND = "CALL real_estate.run_release_job()"
BERLIN = "Europe/Berlin"


@pytest.fixture(scope="module")
def server16(servers: Callable[[str], Any]) -> Any:
    return servers("cron16")


@pytest.fixture(scope="module")
def berlin(servers: Callable[[str], Any]) -> Any:
    return servers("cron16_berlin")


@pytest.fixture
def app16(server16: Any) -> Iterator[str]:
    """DSN of a migrated database on the pg_cron 1.6 server, its job unscheduled."""
    yield from _app(server16)


@pytest.fixture
def app_berlin(berlin: Any) -> Iterator[str]:
    """DSN of a migrated database on the server whose pg_cron reads schedules in Berlin."""
    yield from _app(berlin)


def _app(server: Any) -> Iterator[str]:
    with extra_database(server, tag="cron16") as name:
        dsn = server.dsn_for(name)
        pyrelease.migrate(dsn, schedule=False)
        yield dsn


def registered(conn: Conn) -> tuple[Any, ...] | None:
    return conn.execute(
        "SELECT schedule, schedule_interval, timezone FROM real_estate.release_schedule"
    ).fetchone()


def test_pg_cron_1_6_runs_schedules_in_seconds_and_on_the_last_day(
    server16: Any, app16: str
) -> None:
    with connect_to(server16.dsn_for(server16.cron_database)) as c:
        assert scalar(c, "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'") == "1.6"
    with connect_to(app16) as conn:
        job = pyrelease.schedule(app16, cron="10 seconds")
        assert job.schedule == "10 seconds"
        assert registered(conn) == ("10 seconds", timedelta(seconds=10), "GMT")
        pyrelease.schedule(app16, cron="0 0 $ * *")  # pg_cron 1.6: the month's last day
        assert registered(conn) == ("0 0 $ * *", timedelta(days=31), "GMT")
        # pg_cron's own refusal, in one line (1-59 seconds)
        with pytest.raises(pyrelease.InvalidArgument) as info:
            pyrelease.schedule(app16, cron="60 seconds")
        assert (
            str(info.value) == "invalid cron expression '60 seconds': invalid schedule: 60 seconds"
        )
        assert registered(conn) == ("0 0 $ * *", timedelta(days=31), "GMT")
        pyrelease.migrate(app16)  # keeps the DBA's schedule
        assert registered(conn) == ("0 0 $ * *", timedelta(days=31), "GMT")


def test_status_reads_schedules_in_cron_timezone(
    capsys: pytest.CaptureFixture[str], berlin: Any, app_berlin: str
) -> None:
    """pg_cron 1.5 and later match each minute in cron.timezone: at 09:00 in Berlin the
    longest gap is 25 hours (the night the clocks go back), and the first run is due at 08:00
    or 07:00 UTC. A registration made for another zone is out of date: unhealthy until
    `pyrelease schedule` or `migrate` registers it again."""
    dsn = app_berlin
    with connect_to(dsn) as conn:
        assert cron.timezone(conn) == BERLIN
        pyrelease.schedule(dsn, cron="0 9 * * *")
        assert registered(conn) == ("0 9 * * *", timedelta(hours=25), BERLIN)
        code, out, err = run_main(capsys, "--dsn", dsn, "status", "--json", "--check")
        report = json.loads(out)
        assert code == 0, err
        assert report["job"]["timezone"] == BERLIN
        assert report["job"]["interval_seconds"] == 25 * 3600
        assert report["limit_seconds"] == 50 * 3600
        code, out, err = run_main(capsys, "--dsn", dsn, "status", "--check")
        assert code == 0, err
        checked = scalar(conn, "SELECT now()")
        due = cron.next_run("0 9 * * *", checked, BERLIN)
        assert due.hour in (7, 8) and due.minute == 0  # 09:00 in Berlin, in UTC
        assert re.search(r", read in Europe/Berlin$", out.splitlines()[1]), out
        assert out.splitlines()[-1].startswith("health: ok (waiting for the first run, due ")
        assert f"due {due:%Y-%m-%d %H:%M:%S%z})" in out.splitlines()[-1]

        conn.execute("UPDATE real_estate.release_schedule SET timezone = 'GMT'")
        code, out, err = run_main(capsys, "--dsn", dsn, "status", "--check")
        name = cron.job(conn).name  # type: ignore[union-attr]
        assert (code, err) == (
            1,
            f"pyrelease: error: unhealthy: job {name!r} was registered for schedules read in"
            " GMT, pg_cron reads them in Europe/Berlin (`pyrelease schedule` registers it"
            " again)\n",
        )
        pyrelease.migrate(dsn)
        assert registered(conn) == ("0 9 * * *", timedelta(hours=25), BERLIN)
        assert run_main(capsys, "--dsn", dsn, "status", "--check")[0] == 0


def test_launch_active_jobs_off_is_unhealthy_with_that_reason(
    capsys: pytest.CaptureFixture[str], berlin: Any, app_berlin: str
) -> None:
    """With cron.launch_active_jobs off pg_cron runs no job at all: the owner's status, the
    exporter's release_health() (the owner's rights) say why; a monitor, who may not read
    the setting, learns it from the heartbeat once runs stop."""
    dsn = app_berlin
    pyrelease.schedule(dsn, cron="10 seconds")
    with connect_to(berlin.admin_dsn) as admin:
        admin.execute("ALTER SYSTEM SET cron.launch_active_jobs = off")
        admin.execute("SELECT pg_reload_conf()")
        try:
            with connect_to(dsn) as conn:
                while scalar(conn, "SELECT current_setting('cron.launch_active_jobs')") != "off":
                    time.sleep(0.1)  # (each new statement reads the reloaded file)
                conn.execute(COMMAND)  # otherwise healthy: a run just finished
                reason = "pg_cron runs no job: cron.launch_active_jobs is off"
                assert conn.execute(
                    "SELECT healthy, problems FROM real_estate.release_health()"
                ).fetchone() == (False, [reason])
                code, out, err = run_main(capsys, "--dsn", dsn, "status", "--json", "--check")
                assert (code, json.loads(out)["problems"]) == (1, [reason]), err
                with monitor_login(dsn) as monitor:
                    assert run_main(capsys, "--dsn", monitor, "status", "--check")[0] == 0
                    with connect_to(monitor) as c:
                        assert c.execute(
                            "SELECT healthy, problems FROM real_estate.release_health()"
                        ).fetchone() == (False, [reason])
        finally:
            admin.execute("ALTER SYSTEM RESET cron.launch_active_jobs")
            admin.execute("SELECT pg_reload_conf()")
    with connect_to(dsn) as conn:
        while scalar(conn, "SELECT current_setting('cron.launch_active_jobs')") != "on":
            time.sleep(0.1)
        assert conn.execute("SELECT healthy FROM real_estate.release_health()").fetchone() == (
            True,
        )


SLOW = """
CREATE FUNCTION public.slow_release() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF OLD.name = 'slow' AND NEW.status = 'AVAILABLE' THEN
        PERFORM pg_catalog.pg_advisory_xact_lock(2323);  -- held by the test meanwhile
    END IF;
    RETURN NEW;
END
$f$;
CREATE TRIGGER slow_release BEFORE UPDATE ON real_estate.property
    FOR EACH ROW EXECUTE FUNCTION public.slow_release();
"""


def test_a_long_release_on_a_10_second_schedule_is_not_stale(
    capsys: pytest.CaptureFixture[str], app16: str
) -> None:
    """A real run of a 10-second job held in its batch (a host trigger waits on a lock the
    test holds): two intervals would be 20 seconds, but the rule's 5-minute floor keeps the
    run in progress and the reservation that expired meanwhile within the limit."""
    dsn = app16
    with connect_to(dsn) as conn, connect_to(dsn) as holder:
        conn.execute(SLOW)
        conn.execute(COMMAND)  # a run finished: from now on the job is not new
        ws = make_workspace(conn)
        project = make_project(conn, ws)
        [slow] = make_properties(conn, ws, project, 1, "RESERVED")
        conn.execute(
            "UPDATE real_estate.property SET name = 'slow', reserved_until = now() WHERE id = %s",
            (slow,),
        )
        holder.execute("SELECT pg_advisory_lock(2323)")
        pyrelease.schedule(dsn, cron="10 seconds")
        # the run is in its batch, waiting on the lock
        while not scalar(
            conn,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 2323"
            " AND NOT granted",
        ):
            time.sleep(0.5)
        ws2 = make_workspace(conn)
        [late] = make_properties(conn, ws2, make_project(conn, ws2), 1, "RESERVED")
        conn.execute(
            "UPDATE real_estate.property SET reserved_until = now() WHERE id = %s", (late,)
        )
        while True:  # until it waited longer than two intervals (20 s) would allow
            code, out, err = run_main(capsys, "--dsn", dsn, "status", "--json", "--check")
            report = json.loads(out)
            if report["oldest_expired_seconds"] > 25:
                break
            time.sleep(1)
        assert (code, report["healthy"], report["run_in_progress"]) == (0, True, True), err
        assert report["limit_seconds"] == 300 and report["backlog"] == 2
        assert report["last_scheduled_run_age_seconds"] > 25
        assert not report["waiting_for_first_run"]
        assert report["job"]["interval_seconds"] == 10
        holder.execute("SELECT pg_advisory_unlock(2323)")
        while scalar(conn, "SELECT count(*) FROM real_estate.property WHERE status = 'RESERVED'"):
            time.sleep(0.5)
        assert run_main(capsys, "--dsn", dsn, "status", "--check")[0] == 0
