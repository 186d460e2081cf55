"""The original story, by name: AC 2.4.1 - 2.4.4 of the release of expired reservations."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

import pytest
from factories import (
    Conn,
    assert_counters_exact,
    available_plots,
    connect_to,
    count,
    make_project,
    make_properties,
    make_workspace,
    property_row,
    release,
    release_one,
    runs,
    scalar,
    status_of,
)

from pyrelease import cron

# --------------------------------------------------------------------- AC 2.4.2 - 2.4.4


@pytest.mark.slow
def test_ac_2_4_1_scheduled_job_runs_and_is_logged(server: Any, conn: Conn) -> None:
    workspace = make_workspace(conn)
    project = make_project(conn, workspace)
    expired_at = scalar(conn, "SELECT now() - interval '1 minute'")
    [prop] = make_properties(conn, workspace, project, 1, "RESERVED", reserved_until=expired_at)
    job = cron.schedule(conn, cron="* * * * *")

    with connect_to(server.dsn_for(server.cron_database)) as cron_conn:
        deadline = time.monotonic() + 75
        status = run_status = logged = None
        while time.monotonic() < deadline:
            status = scalar(conn, "SELECT status FROM real_estate.property WHERE id = %s", (prop,))
            row = cron_conn.execute(
                "SELECT status FROM cron.job_run_details WHERE jobid = %s"
                " ORDER BY start_time DESC LIMIT 1",
                (job.jobid,),
            ).fetchone()
            run_status = row[0] if row else None
            logged = conn.execute(
                "SELECT released, failed, error FROM real_estate.release_run"
                " WHERE source = 'pg_cron' AND finished_at IS NOT NULL AND released >= 1"
            ).fetchall()
            if status == "AVAILABLE" and run_status == "succeeded" and logged:
                break
            time.sleep(1)

    assert status == "AVAILABLE"
    assert run_status == "succeeded"
    assert logged == [(1, 0, None)]
    assert scalar(conn, "SELECT available_plots FROM real_estate.project WHERE id = %s", (project,))
    event = conn.execute(
        "SELECT e.reserved_until FROM real_estate.release_event AS e"
        " JOIN real_estate.release_run AS r ON r.id = e.run_id"
        " WHERE e.property_id = %s AND r.source = 'pg_cron'",
        (prop,),
    ).fetchall()
    assert event == [(expired_at,)]


def test_ac_2_4_2_should_release_expired_reservations(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    make_properties(conn, ws, project, 3)
    holder = uuid.uuid4()
    [expired] = make_properties(conn, ws, project, 1, status="RESERVED", reserved_by_id=holder)
    until: datetime = scalar(
        conn, "SELECT reserved_until FROM real_estate.property WHERE id = %s", (expired,)
    )
    assert available_plots(conn, project) == 3

    assert release(conn) == 1

    row = conn.execute(
        "SELECT status, reserved_by_id, reserved_until FROM real_estate.property WHERE id = %s",
        (expired,),
    ).fetchone()
    assert row == ("AVAILABLE", None, None)
    assert available_plots(conn, project) == 4
    [run] = runs(conn)
    run_id, source, started_at, finished_at, released, failed, error = run
    assert (source, released, failed, error) == ("call", 1, 0, None)
    assert finished_at is not None and finished_at >= started_at
    events = conn.execute(
        "SELECT run_id, property_id, workspace_id, project_id, reserved_by_id, reserved_until"
        " FROM real_estate.release_event"
    ).fetchall()
    assert events == [(run_id, expired, ws, project, holder, until)]
    assert_counters_exact(conn)


def test_ac_2_4_3_should_not_release_non_expired_reservations(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    pending = make_properties(conn, ws, project, 3, status="RESERVED", expired=False)
    before = [property_row(conn, p) for p in pending]

    assert release(conn) == 0

    assert [property_row(conn, p) for p in pending] == before
    assert available_plots(conn, project) == 0
    assert count(conn, "release_event") == 0
    assert count(conn, "release_run") == 0


def test_ac_2_4_4_should_be_idempotent(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    make_properties(conn, ws, project, 2)
    expired = make_properties(conn, ws, project, 5, status="RESERVED")
    make_properties(conn, ws, project, 2, status="RESERVED", expired=False)

    assert [release(conn) for _ in range(3)] == [5, 0, 0]

    assert available_plots(conn, project) == 7
    event_ids = conn.execute("SELECT property_id FROM real_estate.release_event").fetchall()
    assert sorted(e[0] for e in event_ids) == sorted(expired)
    assert count(conn, "release_run") == 1
    assert_counters_exact(conn)


def test_should_update_project_available_plots(conn: Conn) -> None:
    ws = make_workspace(conn)
    p1, p2, p3 = (make_project(conn, ws, f"p{i}") for i in (1, 2, 3))
    make_properties(conn, ws, p1, 2)
    make_properties(conn, ws, p1, 3, status="RESERVED")
    make_properties(conn, ws, p1, 1, status="RESERVED", expired=False)
    make_properties(conn, ws, p1, 1, status="SOLD")
    make_properties(conn, ws, p2, 4, status="RESERVED")
    make_properties(conn, ws, p3, 1)
    make_properties(conn, ws, p3, 2, status="RESERVED", expired=False)
    make_properties(conn, ws, None, 2, status="RESERVED")  # no project: no counter
    assert [available_plots(conn, p) for p in (p1, p2, p3)] == [2, 0, 1]

    assert release(conn) == 3 + 4 + 2

    assert [available_plots(conn, p) for p in (p1, p2, p3)] == [5, 4, 1]
    assert_counters_exact(conn)


@pytest.mark.parametrize("activation_status", ["INACTIVE", "SUSPENDED"])
def test_should_not_release_reservations_of_non_active_workspaces(
    conn: Conn, activation_status: str
) -> None:
    active = make_workspace(conn)
    other = make_workspace(conn, activation_status)  # type: ignore[arg-type]
    active_project = make_project(conn, active)
    other_project = make_project(conn, other)
    released_ids = make_properties(conn, active, active_project, 2, status="RESERVED")
    kept = make_properties(conn, other, other_project, 3, status="RESERVED")
    before = [property_row(conn, p) for p in kept]

    assert release(conn) == 2

    assert [property_row(conn, p) for p in kept] == before
    assert available_plots(conn, other_project) == 0
    assert [status_of(conn, p) for p in released_ids] == ["AVAILABLE"] * 2
    event_ids = {r[0] for r in conn.execute("SELECT property_id FROM real_estate.release_event")}
    assert event_ids == set(released_ids)
    assert not any(release_one(conn, p) for p in kept)
    assert_counters_exact(conn)


def test_should_never_release_sold_properties(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    sold = make_properties(conn, ws, project, 3, status="SOLD")
    before = [property_row(conn, p) for p in sold]

    assert release(conn) == 0
    assert not release_one(conn, sold[0])

    assert [property_row(conn, p) for p in sold] == before
    assert available_plots(conn, project) == 0
    assert count(conn, "release_run") == 0
