"""The release, on a single node and on Citus alike: every expired reservation of an ACTIVE
workspace released and logged exactly once, counters exact, rows and counters held elsewhere
skipped without waiting, concurrent runs sharing the work."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from backend import Backend, Conn, tenants
from factories import available_plots, make_properties, scalar, violations


def left_reserved(conn: Conn, ids: list[uuid.UUID]) -> int:
    return int(
        scalar(
            conn,
            "SELECT count(*) FROM real_estate.property WHERE id = ANY (%s) AND status = 'RESERVED'",
            (ids,),
        )
    )


RELEASE = {
    "function": "SELECT real_estate.release_expired_reservations(%s)",
    "procedure": "CALL real_estate.run_release_job(%s)",
}


@pytest.mark.parametrize("how", RELEASE)
def test_every_expired_reservation_of_active_workspaces_is_released_once(
    backend: Backend, bconn: Conn, how: str
) -> None:
    active = tenants(bconn, 8)
    [(ws_off, p_off)] = tenants(bconn, 1, "SUSPENDED")
    expired: list[uuid.UUID] = []
    for ws, project in active:
        expired += make_properties(bconn, ws, project, 3, "RESERVED", expired=True)
        make_properties(bconn, ws, project, 2, "RESERVED", expired=False)
        make_properties(bconn, ws, project, 1)
    kept = make_properties(bconn, ws_off, p_off, 3, "RESERVED", expired=True)

    bconn.execute(RELEASE[how], (2,))  # batches of 2: a run of many batches and groups

    assert left_reserved(bconn, expired) == 0
    assert left_reserved(bconn, kept) == 3  # a SUSPENDED workspace's reservations stay
    events = bconn.execute(
        "SELECT property_id, run_id, reason FROM real_estate.release_event"
    ).fetchall()
    assert sorted(e[0] for e in events) == sorted(expired)  # each exactly once
    assert {e[2] for e in events} == {"expired"}
    runs = bconn.execute(
        "SELECT id, source, finished_at IS NOT NULL, released, failed FROM real_estate.release_run"
    ).fetchall()
    source = "call" if how == "function" else "pg_cron"
    assert [r[1:] for r in runs] == [(source, True, len(expired), 0)]
    assert {e[1] for e in events} == {runs[0][0]}
    assert {available_plots(bconn, p) for _, p in active} == {4}  # 1 available + 3 released
    assert violations(bconn) == []
    # Idempotent: a second run finds nothing and, as a function, writes nothing.
    if how == "function":
        assert scalar(bconn, RELEASE[how], (2,)) == 0
        assert scalar(bconn, "SELECT count(*) FROM real_estate.release_run") == 1


def test_a_row_held_elsewhere_is_skipped_without_waiting_and_taken_next_run(
    backend: Backend, bconn: Conn
) -> None:
    [(ws, project)] = tenants(bconn, 1)
    held, *others = make_properties(bconn, ws, project, 4, "RESERVED", expired=True)
    app = backend.connect(autocommit=False)
    app.execute(
        "SELECT 1 FROM real_estate.property WHERE workspace_id = %s AND id = %s FOR UPDATE",
        (ws, held),
    )
    bconn.execute("SET statement_timeout = '10s'")  # a run that waited would fail here
    assert scalar(bconn, "SELECT real_estate.release_expired_reservations()") == 3
    bconn.execute("CALL real_estate.run_release_job()")
    assert left_reserved(bconn, others) == 0
    assert left_reserved(bconn, [held]) == 1
    app.rollback()
    bconn.execute("CALL real_estate.run_release_job()")
    assert left_reserved(bconn, [held]) == 0
    assert available_plots(bconn, project) == 4
    assert violations(bconn) == []


def test_a_counter_held_by_an_application_is_not_waited_on(backend: Backend, bconn: Conn) -> None:
    [(ws, project)] = tenants(bconn, 1)
    expired = make_properties(bconn, ws, project, 2, "RESERVED", expired=True)
    [fresh] = make_properties(bconn, ws, project, 1)
    app = backend.connect(autocommit=False)
    # An application transaction changing a property holds the project's counter row.
    app.execute(
        "UPDATE real_estate.property SET status = 'SOLD' WHERE workspace_id = %s AND id = %s",
        (ws, fresh),
    )
    bconn.execute("SET statement_timeout = '10s'")
    assert scalar(bconn, "SELECT real_estate.release_expired_reservations()") == 0
    bconn.execute("CALL real_estate.run_release_job()")
    assert left_reserved(bconn, expired) == 2
    app.rollback()
    assert scalar(bconn, "SELECT real_estate.release_expired_reservations()") == 2
    assert available_plots(bconn, project) == 3
    assert violations(bconn) == []


def test_concurrent_runs_release_each_row_exactly_once(backend: Backend, bconn: Conn) -> None:
    expired: list[uuid.UUID] = []
    for ws, project in tenants(bconn, 8):
        expired += make_properties(bconn, ws, project, 6, "RESERVED", expired=True)
    errors: list[BaseException] = []
    calls = [
        "CALL real_estate.run_release_job(2)",
        "CALL real_estate.run_release_job(3)",
        "SELECT real_estate.release_expired_reservations(4)",
    ]

    def run(statement: str) -> None:
        try:
            with psycopg.connect(backend.dsn, autocommit=True) as c:
                c.execute(statement)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    bconn.execute("CALL real_estate.run_release_job()")  # what a run skipped (held) is next
    assert left_reserved(bconn, expired) == 0
    rows = bconn.execute(
        "SELECT property_id, count(*) FROM real_estate.release_event GROUP BY 1"
    ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(expired)
    assert {r[1] for r in rows} == {1}  # each released exactly once
    assert scalar(bconn, "SELECT sum(released) FROM real_estate.release_run") == len(expired)
    assert violations(bconn) == []


def test_a_row_a_host_trigger_refuses_is_a_failure_and_the_others_are_released(
    backend: Backend, bconn: Conn
) -> None:
    [(ws, project)] = tenants(bconn, 1)
    refused, *others = make_properties(bconn, ws, project, 4, "RESERVED", expired=True)
    # The host's trigger refuses to change `refused` (named, not looked up: on Citus it fires
    # on the shard, on the worker).
    bconn.execute(
        "CREATE FUNCTION public.refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN IF OLD.name = 'property 1' THEN RAISE EXCEPTION 'host refuses %', OLD.id;"
        " END IF; RETURN NEW; END $$"
    )
    bconn.execute(
        "CREATE TRIGGER refuse_one BEFORE UPDATE ON real_estate.property"
        " FOR EACH ROW EXECUTE FUNCTION public.refuse_one()"
    )
    try:
        assert scalar(bconn, "SELECT real_estate.release_expired_reservations()") == 3
        run = bconn.execute(
            "SELECT released, failed, error FROM real_estate.release_run ORDER BY id DESC LIMIT 1"
        ).fetchone()
        assert run is not None and run[:2] == (3, 1)
        assert f"property {refused}" in run[2] and "host refuses" in run[2]
        assert left_reserved(bconn, others) == 0
        assert left_reserved(bconn, [refused]) == 1
    finally:
        bconn.execute("DROP TRIGGER refuse_one ON real_estate.property")
        bconn.execute("DROP FUNCTION public.refuse_one()")
    bconn.execute("CALL real_estate.run_release_job()")  # retried by the next run
    assert left_reserved(bconn, [refused]) == 0
    assert violations(bconn) == []


def test_nothing_expired_writes_nothing(backend: Backend, bconn: Conn) -> None:
    [(ws, project)] = tenants(bconn, 1)
    make_properties(bconn, ws, project, 3)
    make_properties(bconn, ws, project, 2, "RESERVED", expired=False)
    [(ws_off, _)] = tenants(bconn, 1, "INACTIVE")
    make_properties(bconn, ws_off, None, 2, "RESERVED", expired=True)  # never released
    assert [scalar(bconn, RELEASE["function"], (1000,)) for _ in range(2)] == [0, 0]
    assert scalar(bconn, "SELECT count(*) FROM real_estate.release_run") == 0
    assert scalar(bconn, "SELECT count(*) FROM real_estate.release_event") == 0
    assert available_plots(bconn, project) == 3


def test_views_read_expired_reservations_as_available(backend: Backend, bconn: Conn) -> None:
    pairs = tenants(bconn, 3)
    for ws, project in pairs:
        make_properties(bconn, ws, project, 2, "RESERVED", expired=True)
        make_properties(bconn, ws, project, 1)
    ws0, p0 = pairs[0]
    effective = bconn.execute(
        "SELECT available_plots, effective_available_plots, release_pending"
        " FROM real_estate.project_availability WHERE id = %s",
        (p0,),
    ).fetchone()
    assert effective == (1, 3, 2)
    statuses = bconn.execute(
        "SELECT status, stored_status, release_pending, reserved_by_id IS NULL"
        " FROM real_estate.property_availability WHERE workspace_id = %s ORDER BY stored_status",
        (ws0,),
    ).fetchall()
    assert statuses == [
        ("AVAILABLE", "AVAILABLE", False, True),
        ("AVAILABLE", "RESERVED", True, True),
        ("AVAILABLE", "RESERVED", True, True),
    ]
    assert scalar(bconn, "SELECT expired_reservations FROM real_estate.release_backlog") == 6
    bconn.execute("SELECT real_estate.release_expired_reservations()")
    assert scalar(bconn, "SELECT expired_reservations FROM real_estate.release_backlog") == 0
    assert violations(bconn) == []
