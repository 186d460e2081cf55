"""real_estate.reserve_property and the effective availability views."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from factories import (
    Conn,
    assert_counters_exact,
    available_plots,
    make_project,
    make_properties,
    make_workspace,
    property_row,
    scalar,
)

import pyrelease

Connect = Callable[..., Conn]

RESERVE = "SELECT real_estate.reserve_property(%s, %s, %s::interval)"


def reserve(conn: Conn, property_id: Any, holder: Any, ttl: str | None = "2 hours") -> datetime:
    result: datetime = scalar(conn, RESERVE, (property_id, holder, ttl))
    return result


def snapshot(conn: Conn) -> tuple[Any, ...]:
    """Everything reserve_property could change."""
    return (
        conn.execute("SELECT p::text FROM real_estate.property AS p ORDER BY id").fetchall(),
        conn.execute("SELECT id, available_plots FROM real_estate.project ORDER BY id").fetchall(),
        scalar(conn, "SELECT count(*) FROM real_estate.release_run"),
        scalar(conn, "SELECT count(*) FROM real_estate.release_event"),
    )


def test_reserve_available_property(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    target, _ = make_properties(conn, ws, project, 2)
    holder = uuid.uuid4()

    until, now = conn.execute(
        "SELECT real_estate.reserve_property(%s, %s, interval '90 minutes'), now()",
        (target, holder),
    ).fetchone()  # type: ignore[misc]

    assert until == now + timedelta(minutes=90)
    row = conn.execute(
        "SELECT status, reserved_by_id, reserved_until FROM real_estate.property WHERE id = %s",
        (target,),
    ).fetchone()
    assert row == ("RESERVED", holder, until)
    assert available_plots(conn, project) == 1
    assert scalar(conn, "SELECT count(*) FROM real_estate.release_event") == 0
    assert scalar(conn, "SELECT count(*) FROM real_estate.release_run") == 0
    assert_counters_exact(conn)


def test_reserve_default_ttl_is_24_hours(conn: Conn) -> None:
    ws = make_workspace(conn)
    [target] = make_properties(conn, ws, make_project(conn, ws), 1)

    until, now = conn.execute(
        "SELECT real_estate.reserve_property(%s, gen_random_uuid()), now()", (target,)
    ).fetchone()  # type: ignore[misc]

    assert until == now + timedelta(hours=24)


def test_reserve_takes_over_an_expired_reservation(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    make_properties(conn, ws, project, 1)
    old_holder, new_holder = uuid.uuid4(), uuid.uuid4()
    [target] = make_properties(conn, ws, project, 1, status="RESERVED", reserved_by_id=old_holder)
    old_until = scalar(
        conn, "SELECT reserved_until FROM real_estate.property WHERE id = %s", (target,)
    )

    until = reserve(conn, target, new_holder)

    row = conn.execute(
        "SELECT status, reserved_by_id, reserved_until FROM real_estate.property WHERE id = %s",
        (target,),
    ).fetchone()
    assert row == ("RESERVED", new_holder, until)
    assert until > datetime.now(until.tzinfo) + timedelta(hours=1)
    events = conn.execute(
        "SELECT property_id, reserved_by_id, reserved_until FROM real_estate.release_event"
    ).fetchall()
    assert events == [(target, old_holder, old_until)]
    runs = conn.execute(
        "SELECT source, released, failed, finished_at IS NOT NULL FROM real_estate.release_run"
    ).fetchall()
    assert runs == [("call", 1, 0, True)]
    assert available_plots(conn, project) == 1
    assert_counters_exact(conn)


ERROR_CASES = {
    "unknown_property": "RE001",
    "sold": "RE002",
    "reserved_unexpired": "RE003",
    "inactive_workspace": "RE004",
    "suspended_workspace": "RE004",
    "expired_in_inactive_workspace": "RE004",
    "ttl_zero": "RE010",
    "ttl_negative": "RE010",
    "ttl_null": "RE010",
    "property_id_null": "RE010",
    "holder_null": "RE010",
}


@pytest.mark.parametrize(("case", "sqlstate"), ERROR_CASES.items())
def test_reserve_errors(conn: Conn, case: str, sqlstate: str) -> None:
    activation = {"inactive_workspace": "INACTIVE", "suspended_workspace": "SUSPENDED"}.get(
        case, "INACTIVE" if case == "expired_in_inactive_workspace" else "ACTIVE"
    )
    ws = make_workspace(conn, activation)  # type: ignore[arg-type]
    project = make_project(conn, ws)
    make_properties(conn, ws, project, 2)
    if case == "sold":
        [target] = make_properties(conn, ws, project, 1, status="SOLD")
    elif case == "reserved_unexpired":
        [target] = make_properties(conn, ws, project, 1, status="RESERVED", expired=False)
    elif case == "expired_in_inactive_workspace":
        [target] = make_properties(conn, ws, project, 1, status="RESERVED")
    else:
        [target] = make_properties(conn, ws, project, 1)
    args: list[Any] = [target, uuid.uuid4(), "2 hours"]
    if case == "unknown_property":
        args[0] = uuid.uuid4()
    elif case == "property_id_null":
        args[0] = None
    elif case == "holder_null":
        args[1] = None
    elif case.startswith("ttl_"):
        args[2] = {"ttl_zero": "0", "ttl_negative": "-5 minutes", "ttl_null": None}[case]
    before = snapshot(conn)

    with pytest.raises(psycopg.Error) as info:
        reserve(conn, *args)

    assert info.value.sqlstate == sqlstate
    assert snapshot(conn) == before


@pytest.mark.parametrize("initially", ["AVAILABLE", "expired RESERVED"])
def test_concurrent_reserves_one_wins_the_other_gets_re003(
    connect: Connect, initially: str
) -> None:
    setup = connect()
    ws = make_workspace(setup)
    project = make_project(setup, ws)
    make_properties(setup, ws, project, 1)
    status = "AVAILABLE" if initially == "AVAILABLE" else "RESERVED"
    [target] = make_properties(setup, ws, project, 1, status=status)  # type: ignore[arg-type]
    first, second = connect(autocommit=False), connect()
    winner, loser = uuid.uuid4(), uuid.uuid4()
    outcome: list[BaseException | datetime] = []

    until = reserve(first, target, winner)  # holds the row lock until commit

    def other() -> None:
        try:
            outcome.append(reserve(second, target, loser))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    deadline = time.monotonic() + 10
    while scalar(
        setup,
        "SELECT wait_event_type IS DISTINCT FROM 'Lock' FROM pg_stat_activity WHERE pid = %s",
        (second.info.backend_pid,),
    ):
        assert time.monotonic() < deadline, "the second reservation never waited for the first"
        time.sleep(0.02)
    first.commit()
    thread.join(timeout=10)

    [result] = outcome
    assert isinstance(result, psycopg.Error) and result.sqlstate == "RE003", result
    row = setup.execute(
        "SELECT status, reserved_by_id, reserved_until FROM real_estate.property WHERE id = %s",
        (target,),
    ).fetchone()
    assert row == ("RESERVED", winner, until)
    expected_events = 0 if initially == "AVAILABLE" else 1
    assert scalar(setup, "SELECT count(*) FROM real_estate.release_event") == expected_events
    assert available_plots(setup, project) == 1
    assert_counters_exact(setup)


def test_racing_reserves_exactly_one_wins_each_property(connect: Connect) -> None:
    setup = connect()
    ws = make_workspace(setup)
    project = make_project(setup, ws)
    targets = make_properties(setup, ws, project, 10) + make_properties(
        setup, ws, project, 10, status="RESERVED"
    )
    barrier = threading.Barrier(2)
    wins: dict[str, list[uuid.UUID]] = {"a": [], "b": []}
    losses: dict[str, list[str | None]] = {"a": [], "b": []}
    holders = {"a": uuid.uuid4(), "b": uuid.uuid4()}

    def racer(name: str) -> None:
        c = connect()
        for target in targets:
            barrier.wait(timeout=10)
            try:
                reserve(c, target, holders[name])
                wins[name].append(target)
            except psycopg.Error as exc:
                losses[name].append(exc.sqlstate)

    threads = [threading.Thread(target=racer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(wins["a"] + wins["b"]) == sorted(targets)
    assert losses["a"] + losses["b"] == ["RE003"] * len(targets)
    holder_of = dict(
        setup.execute("SELECT id, reserved_by_id FROM real_estate.property").fetchall()
    )
    assert all(holder_of[t] == holders["a"] for t in wins["a"])
    assert all(holder_of[t] == holders["b"] for t in wins["b"])
    assert scalar(setup, "SELECT count(*) FROM real_estate.release_event") == 10
    assert available_plots(setup, project) == 0
    assert_counters_exact(setup)


# --------------------------------------------------------------------- availability views


def view_row(conn: Conn, property_id: uuid.UUID) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT status, reserved_by_id, reserved_until, stored_status, release_pending"
        " FROM real_estate.property_availability WHERE id = %s",
        (property_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_property_availability_reads_effective_status(conn: Conn) -> None:
    active = make_workspace(conn)
    inactive = make_workspace(conn, "INACTIVE")
    project = make_project(conn, active)
    holder = uuid.uuid4()
    [expired] = make_properties(conn, active, project, 1, status="RESERVED", reserved_by_id=holder)
    [pending] = make_properties(
        conn, active, project, 1, status="RESERVED", expired=False, reserved_by_id=holder
    )
    [frozen] = make_properties(conn, inactive, None, 1, status="RESERVED", reserved_by_id=holder)
    [available] = make_properties(conn, active, project, 1)
    [sold] = make_properties(conn, active, project, 1, status="SOLD")

    def until(pid: uuid.UUID) -> datetime:
        value: datetime = scalar(
            conn, "SELECT reserved_until FROM real_estate.property WHERE id = %s", (pid,)
        )
        return value

    assert view_row(conn, expired) == ("AVAILABLE", None, None, "RESERVED", True)
    assert view_row(conn, pending) == ("RESERVED", holder, until(pending), "RESERVED", False)
    assert view_row(conn, frozen) == ("RESERVED", holder, until(frozen), "RESERVED", False)
    assert view_row(conn, available) == ("AVAILABLE", None, None, "AVAILABLE", False)
    assert view_row(conn, sold) == ("SOLD", None, None, "SOLD", False)
    columns = [
        c.name
        for c in conn.execute("SELECT * FROM real_estate.property_availability LIMIT 0").description
        or []
    ]
    assert columns == [
        "id",
        "workspace_id",
        "project_id",
        "name",
        "status",
        "reserved_by_id",
        "reserved_until",
        "stored_status",
        "release_pending",
    ]

    # The view predicts the release: after it, the effective status is unchanged.
    effective = conn.execute(
        "SELECT id, status FROM real_estate.property_availability ORDER BY id"
    ).fetchall()
    scalar(conn, "SELECT real_estate.release_expired_reservations()")
    assert (
        conn.execute(
            "SELECT id, status FROM real_estate.property_availability ORDER BY id"
        ).fetchall()
        == effective
    )
    assert view_row(conn, expired) == ("AVAILABLE", None, None, "AVAILABLE", False)


def test_project_availability_counts_expired_reservations(conn: Conn) -> None:
    active = make_workspace(conn)
    inactive = make_workspace(conn, "SUSPENDED")
    p1, p2 = make_project(conn, active, "p1"), make_project(conn, active, "p2")
    p3 = make_project(conn, inactive, "p3")
    make_properties(conn, active, p1, 2)
    make_properties(conn, active, p1, 3, status="RESERVED")
    make_properties(conn, active, p1, 1, status="RESERVED", expired=False)
    make_properties(conn, active, p1, 1, status="SOLD")
    make_properties(conn, active, p2, 1, status="RESERVED", expired=False)
    make_properties(conn, inactive, p3, 1)
    make_properties(conn, inactive, p3, 2, status="RESERVED")

    def read() -> dict[uuid.UUID, tuple[int, int, int]]:
        rows = conn.execute(
            "SELECT id, available_plots, effective_available_plots, release_pending"
            " FROM real_estate.project_availability"
        ).fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    assert read() == {p1: (2, 5, 3), p2: (0, 0, 0), p3: (1, 1, 0)}
    backlog = conn.execute(
        "SELECT expired_reservations, oldest_age > interval '1 hour'"
        " FROM real_estate.release_backlog"
    ).fetchone()
    assert backlog == (3, True)

    scalar(conn, "SELECT real_estate.release_expired_reservations()")

    assert read() == {p1: (5, 5, 0), p2: (0, 0, 0), p3: (1, 1, 0)}
    assert conn.execute("SELECT * FROM real_estate.release_backlog").fetchone() == (0, None, None)


def test_reserve_leaves_other_rows_alone(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    target, *others = make_properties(conn, ws, project, 4)
    before = [property_row(conn, p) for p in others]

    reserve(conn, target, uuid.uuid4())

    assert [property_row(conn, p) for p in others] == before


def test_reserve_refuses_a_ttl_that_ends_in_the_past(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    [target] = make_properties(conn, ws, project, 1)
    ttl = "-1 year 360 days 1 hour"
    assert scalar(conn, "SELECT %s::interval > interval '0'", (ttl,))  # "positive" as an interval

    try:
        until, now = conn.execute(
            "SELECT real_estate.reserve_property(%s, gen_random_uuid(), %s::interval), now()",
            (target, ttl),
        ).fetchone()  # type: ignore[misc]
    except psycopg.Error as exc:  # the expected outcome: refused as a bad argument
        assert exc.sqlstate == "RE010"
    else:
        assert until > now, f"reserved until {until}, before the reservation was made ({now})"


def test_a_ttl_has_a_ceiling_the_owner_can_move(conn: Conn) -> None:
    """A 200,000-year reservation was accepted: a permanent lock. The one TTL check refuses a
    TTL past pyrelease.max_ttl (1 year unless set), for reserve and extend alike."""
    ws = make_workspace(conn)
    [p] = make_properties(conn, ws, make_project(conn, ws), 1)
    buyer = uuid.uuid4()
    for days in (200_000 * 365, 367):
        with pytest.raises(pyrelease.InvalidArgument, match="at most 1 year") as raised:
            pyrelease.reserve(conn, p, buyer, ttl=timedelta(days=days))
        assert raised.value.sqlstate == "RE010"
    assert scalar(conn, "SELECT real_estate.reserve_property(%s, %s, '1 year') > now()", (p, buyer))
    with pytest.raises(pyrelease.InvalidArgument, match="at most"):
        pyrelease.extend(conn, p, buyer, ttl=timedelta(days=400))
    conn.execute("SET pyrelease.max_ttl = '2 years'")
    assert pyrelease.extend(conn, p, buyer, ttl=timedelta(days=400)) > datetime.now(UTC)
    conn.execute("RESET pyrelease.max_ttl")


def _wait_for_lock(observer: Conn, pid: int) -> None:
    deadline = time.monotonic() + 10
    while scalar(
        observer,
        "SELECT wait_event_type IS DISTINCT FROM 'Lock' FROM pg_stat_activity WHERE pid = %s",
        (pid,),
    ):
        assert time.monotonic() < deadline, f"backend {pid} never waited for a lock"
        time.sleep(0.02)


def test_takeover_waits_for_a_release_in_progress_and_logs_once(connect: Connect) -> None:
    setup = connect()
    ws = make_workspace(setup)
    project = make_project(setup, ws)
    [target] = make_properties(setup, ws, project, 1, status="RESERVED")
    releaser, reserver = connect(autocommit=False), connect()
    holder = uuid.uuid4()
    outcome: list[Any] = []

    assert scalar(releaser, "SELECT real_estate.release_expired_reservations()") == 1
    thread = threading.Thread(target=lambda: outcome.append(reserve(reserver, target, holder)))
    thread.start()
    _wait_for_lock(setup, reserver.info.backend_pid)
    releaser.commit()
    thread.join(timeout=10)

    assert len(outcome) == 1 and isinstance(outcome[0], datetime)
    assert setup.execute(
        "SELECT status, reserved_by_id FROM real_estate.property WHERE id = %s", (target,)
    ).fetchone() == ("RESERVED", holder)
    assert scalar(setup, "SELECT count(*) FROM real_estate.release_event") == 1
    assert available_plots(setup, project) == 0
    assert_counters_exact(setup)


def test_release_skips_a_takeover_in_progress(connect: Connect) -> None:
    setup = connect()
    ws = make_workspace(setup)
    project = make_project(setup, ws)
    [target] = make_properties(setup, ws, project, 1, status="RESERVED")
    reserver = connect(autocommit=False)
    holder = uuid.uuid4()

    reserve(reserver, target, holder)  # takes the expired reservation over, not committed
    setup.execute("SET lock_timeout = '5s'")  # waiting for the row would take at least this
    started = time.monotonic()
    assert scalar(setup, "SELECT real_estate.release_expired_reservations()") == 0
    assert time.monotonic() - started < 5
    assert scalar(setup, "SELECT count(*) FROM real_estate.release_run WHERE failed > 0") == 0
    reserver.commit()

    assert scalar(setup, "SELECT real_estate.release_expired_reservations()") == 0
    assert (
        scalar(setup, "SELECT reserved_by_id FROM real_estate.property WHERE id = %s", (target,))
        == holder
    )
    assert scalar(setup, "SELECT count(*) FROM real_estate.release_event") == 1
    assert_counters_exact(setup)
