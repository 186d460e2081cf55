"""The scheduled run, on a single node and on Citus alike: CALL real_estate.run_release_job()
(a large backlog read in slices, committed batch by batch, a run row first, old log rows
purged) and a real pg_cron tick, the two back-ends' ticks waited for concurrently."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from backend import Backend, Conn, tenants
from factories import drop_jobs, make_project, make_properties, make_workspace, scalar

import pyrelease


def test_a_large_backlog_is_released_once_by_one_run(backend: Backend, bconn: Conn) -> None:
    """Batches of 2: slices of 8 rows, windows of 400; every row once, in one pg_cron run,
    recorded first and finished last; a reservation expiring meanwhile is taken too."""
    ids: list[uuid.UUID] = []
    for _ in range(5):
        ws = make_workspace(bconn)
        for name in ("a", "b"):
            ids += make_properties(bconn, ws, make_project(bconn, ws, name), 9, "RESERVED")
        ids += make_properties(bconn, ws, None, 2, "RESERVED")
    bconn.execute("CALL real_estate.run_release_job(p_batch_size => 2)")
    assert bconn.execute(
        "SELECT source, released, failed, finished_at IS NOT NULL FROM real_estate.release_run"
    ).fetchall() == [("pg_cron", len(ids), 0, True)]
    rows = bconn.execute(
        "SELECT property_id, count(*) FROM real_estate.release_event GROUP BY 1"
    ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(ids)
    assert {r[1] for r in rows} == {1}
    assert bconn.execute("SELECT * FROM real_estate.check_invariants()").fetchall() == []


def test_the_run_purges_log_rows_older_than_its_retention(backend: Backend, bconn: Conn) -> None:
    ws = make_workspace(bconn)
    [gone] = make_properties(bconn, ws, None, 1, "RESERVED")
    bconn.execute("CALL real_estate.run_release_job()")
    bconn.execute("UPDATE real_estate.release_run SET started_at = now() - interval '31 days'")
    [kept] = make_properties(bconn, ws, None, 1, "RESERVED")
    bconn.execute("CALL real_estate.run_release_job()")
    events = bconn.execute("SELECT property_id FROM real_estate.release_event").fetchall()
    assert events == [(kept,)]
    assert scalar(bconn, "SELECT count(*) FROM real_estate.release_run") == 1
    assert gone != kept
    for bad in ("p_batch_size => 0", "p_retention => interval '-1 day'"):
        with pytest.raises(psycopg.Error) as refused:
            bconn.execute(f"CALL real_estate.run_release_job({bad})")
        assert refused.value.sqlstate == "RE010"


# ----------------------------------------------------------------------------- pg_cron


@dataclass
class Tick:
    dsn: str
    property_id: uuid.UUID
    deadline: float


@pytest.fixture(scope="session")
def ticks(request: pytest.FixtureRequest) -> dict[str, Tick]:
    """The job of each back-end whose tick test runs, scheduled every minute, all at once,
    each with one expired reservation: the tick tests then wait for their own tick
    concurrently (one pg_cron minute for both). Single node: a database of its own, from the
    template; Citus: the session's distributed database (its job is unscheduled by the test,
    so that no tick runs under the next tests' feet)."""
    names = {
        item.callspec.params["backend"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_a_pg_cron_tick_releases"
    }
    out: dict[str, Tick] = {}
    for name in sorted(names):
        if name == "single":
            server = request.getfixturevalue("server")
            template = request.getfixturevalue("template_db")
            dbname = f"pyrelease_tick_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(server.admin_dsn, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{dbname}" TEMPLATE "{template}"')
            request.addfinalizer(lambda s=server, d=dbname: _drop(s, d))
            dsn = server.dsn_for(dbname)
        else:
            dsn = request.getfixturevalue("cdb")
        with psycopg.connect(dsn, autocommit=True) as c:
            ws = make_workspace(c, name=f"tick {name}")
            [prop] = make_properties(c, ws, make_project(c, ws), 1, "RESERVED")
        pyrelease.schedule(dsn, cron="* * * * *")
        request.addfinalizer(lambda d=dsn: pyrelease.unschedule(d))
        out[name] = Tick(dsn, prop, time.monotonic() + 150)
    return out


def _drop(server: Any, dbname: str) -> None:
    drop_jobs(server, dbname)
    with psycopg.connect(server.admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["single", "citus"])
def test_a_pg_cron_tick_releases(backend: str, ticks: dict[str, Tick]) -> None:
    tick = ticks[backend]
    try:
        with psycopg.connect(tick.dsn, autocommit=True) as c:
            status = None
            while time.monotonic() < tick.deadline:
                status = scalar(
                    c, "SELECT status FROM real_estate.property WHERE id = %s", (tick.property_id,)
                )
                if status == "AVAILABLE":
                    break
                time.sleep(1)
            assert status == "AVAILABLE", "no pg_cron tick released it within 150 s"
            source = scalar(
                c,
                "SELECT r.source FROM real_estate.release_event AS e"
                " JOIN real_estate.release_run AS r ON r.id = e.run_id WHERE e.property_id = %s",
                (tick.property_id,),
            )
            assert source == "pg_cron"
    finally:
        pyrelease.unschedule(tick.dsn)  # no more ticks under the next tests' feet


def test_the_health_rule_and_status_read_the_back_end(backend: Backend, bconn: Conn) -> None:
    """release_health() and `status --json` (which runs its body itself) read the tables
    through the coordinator on Citus: every worker's backlog, the counter drift."""
    for ws, project in tenants(bconn, 4):
        make_properties(bconn, ws, project, 1, "RESERVED")  # expired
    row = bconn.execute(
        "SELECT backlog, counter_drift FROM real_estate.release_health()"
    ).fetchone()
    assert row is not None and row[0] == 4 and row[1] == 0
    done = subprocess.run(
        [sys.executable, "-m", "pyrelease.cli", "--dsn", backend.dsn, "status", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr  # (no job: unhealthy)
    report = json.loads(done.stdout)
    assert (report["backlog"], report["counter_drift"]) == row
