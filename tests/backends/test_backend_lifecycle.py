"""The reservation's whole lifecycle, on a single node and on Citus alike: reserve (by id and
in a named workspace), extend, sell, cancel and release_reservation, with their errors,
their release events and exact counters, and exactly one winner between two callers."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from backend import Backend, Conn
from factories import (
    available_plots,
    make_project,
    make_properties,
    make_workspace,
    reservation,
    scalar,
    violations,
)

import pyrelease

HOUR = timedelta(hours=1)


def events(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT property_id, reserved_by_id, reason FROM real_estate.release_event ORDER BY id"
    ).fetchall()


@pytest.fixture
def world(bconn: Conn) -> dict[str, Any]:
    ws = make_workspace(bconn)
    project = make_project(bconn, ws)
    holder = uuid.uuid4()
    off = make_workspace(bconn, "SUSPENDED")
    return {
        "ws": ws,
        "project": project,
        "holder": holder,
        "free": make_properties(bconn, ws, project, 2),
        "expired": make_properties(bconn, ws, project, 1, "RESERVED", True, holder)[0],
        "sold": make_properties(bconn, ws, project, 1, "SOLD")[0],
        "off": make_properties(bconn, off, make_project(bconn, off), 1)[0],
        "off_ws": off,
    }


def test_reserve_by_id_and_in_its_workspace(
    backend: Backend, bconn: Conn, world: dict[str, Any]
) -> None:
    a, b = world["free"]
    buyer = uuid.uuid4()
    until = pyrelease.reserve(bconn, a, buyer, HOUR)
    assert reservation(bconn, a) == ("RESERVED", buyer, until)
    row = bconn.execute(
        "SELECT real_estate.reserve_property_in_workspace(%s, %s, %s, interval '2 hours')",
        (world["ws"], b, buyer),
    ).fetchone()
    assert row is not None and reservation(bconn, b) == ("RESERVED", buyer, row[0])
    assert available_plots(bconn, world["project"]) == 0
    assert events(bconn) == []
    assert violations(bconn) == []


@pytest.mark.parametrize(
    ("which", "error", "sqlstate"),
    [
        ("taken", pyrelease.PropertyReserved, "RE003"),
        ("sold", pyrelease.PropertySold, "RE002"),
        ("off", pyrelease.WorkspaceNotActive, "RE004"),
        ("missing", pyrelease.PropertyNotFound, "RE001"),
    ],
)
def test_reserve_refuses(
    backend: Backend,
    bconn: Conn,
    world: dict[str, Any],
    which: str,
    error: type[Exception],
    sqlstate: str,
) -> None:
    if which == "taken":
        target = world["free"][0]
        pyrelease.reserve(bconn, target, uuid.uuid4(), HOUR)
    else:
        target = world.get(which, uuid.uuid4())
    before = reservation(bconn, target) if which != "missing" else None
    with pytest.raises(error) as caught:
        pyrelease.reserve(bconn, target, uuid.uuid4(), HOUR)
    assert getattr(caught.value, "sqlstate", None) == sqlstate
    if before is not None:
        assert reservation(bconn, target) == before


def test_reserve_in_a_workspace_refuses_another_workspace_and_a_null_one(
    backend: Backend, bconn: Conn, world: dict[str, Any]
) -> None:
    a = world["free"][0]
    call = "SELECT real_estate.reserve_property_in_workspace(%s, %s, %s)"
    for ws, sqlstate in ((world["off_ws"], "RE001"), (None, "RE010")):
        with pytest.raises(psycopg.Error) as caught:
            bconn.execute(call, (ws, a, uuid.uuid4()))
        assert caught.value.sqlstate == sqlstate
    assert reservation(bconn, a) == ("AVAILABLE", None, None)


def test_reserve_takes_over_an_expired_reservation_and_logs_it_once(
    backend: Backend, bconn: Conn, world: dict[str, Any]
) -> None:
    buyer = uuid.uuid4()
    until = pyrelease.reserve(bconn, world["expired"], buyer, HOUR)
    assert reservation(bconn, world["expired"]) == ("RESERVED", buyer, until)
    assert events(bconn) == [(world["expired"], world["holder"], "expired")]
    assert available_plots(bconn, world["project"]) == 2
    assert violations(bconn) == []


def test_concurrent_reservations_of_a_property_one_wins(
    backend: Backend, bconn: Conn, world: dict[str, Any]
) -> None:
    target = world["free"][0]
    first = backend.connect(autocommit=False)
    pyrelease.reserve(first, target, uuid.uuid4(), HOUR)  # holds the row until it commits
    outcome: list[BaseException | None] = []

    def second() -> None:
        with psycopg.connect(backend.dsn, autocommit=True) as c:
            try:
                pyrelease.reserve(c, target, uuid.uuid4(), HOUR)
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

    t = threading.Thread(target=second)
    t.start()
    t.join(0.3)  # (it waits for the first one's row lock, or comes after its commit)
    first.commit()
    t.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], pyrelease.PropertyReserved)
    assert available_plots(bconn, world["project"]) == 1


def test_extend_then_sell_the_holders_reservation(
    backend: Backend, bconn: Conn, world: dict[str, Any]
) -> None:
    target = world["free"][0]
    holder = uuid.uuid4()
    pyrelease.reserve(bconn, target, holder, HOUR)
    later = pyrelease.extend(bconn, target, holder, timedelta(hours=5))
    now = scalar(bconn, "SELECT now()")
    assert timedelta(hours=5) - timedelta(seconds=5) < later - now <= timedelta(hours=5)
    assert reservation(bconn, target) == ("RESERVED", holder, later)
    pyrelease.sell(bconn, target, holder)
    assert reservation(bconn, target) == ("SOLD", None, None)
    with pytest.raises(pyrelease.PropertyNotHeld, match="is not reserved"):
        pyrelease.sell(bconn, target, holder)  # not idempotent: it is SOLD now
    assert events(bconn) == []
    assert available_plots(bconn, world["project"]) == 1
    assert violations(bconn) == []


@pytest.mark.parametrize("call", ["extend", "sell"])
@pytest.mark.parametrize(
    ("which", "as_holder", "message", "sqlstate"),
    [
        ("live", False, "is held by another holder, reserved until", "RE005"),
        ("expired", True, "has expired, reserved until", "RE005"),
        ("free", True, "is not reserved (it is AVAILABLE)", "RE005"),
        ("missing", True, "does not exist", "RE001"),
        ("off", True, "belongs to a SUSPENDED workspace", "RE004"),
    ],
)
def test_extend_and_sell_refuse_what_the_holder_does_not_hold(
    backend: Backend,
    bconn: Conn,
    world: dict[str, Any],
    call: str,
    which: str,
    as_holder: bool,
    message: str,
    sqlstate: str,
) -> None:
    holder = world["holder"]
    if which == "live":
        target = world["free"][0]
        pyrelease.reserve(bconn, target, holder, HOUR)
    elif which == "free":
        target = world["free"][1]
    else:
        target = world.get(which, uuid.uuid4())
    before = reservation(bconn, target) if which != "missing" else None
    with pytest.raises(pyrelease.PyreleaseError, match=re.escape(message)) as caught:
        if call == "extend":
            pyrelease.extend(bconn, target, holder if as_holder else uuid.uuid4(), HOUR)
        else:
            pyrelease.sell(bconn, target, holder if as_holder else uuid.uuid4())
    assert caught.value.sqlstate == sqlstate
    if before is not None:
        assert reservation(bconn, target) == before
    assert events(bconn) == []


def test_cancel_gives_back_any_reservation_of_its_holder_once(
    backend: Backend, bconn: Conn, world: dict[str, Any]
) -> None:
    live = world["free"][0]
    holder = world["holder"]
    pyrelease.reserve(bconn, live, holder, HOUR)
    assert pyrelease.cancel(bconn, live, uuid.uuid4()) is False  # another holder
    assert pyrelease.cancel(bconn, world["sold"], holder) is False  # not reserved
    assert pyrelease.cancel(bconn, uuid.uuid4(), holder) is False  # unknown
    assert pyrelease.cancel(bconn, live, holder) is True
    assert pyrelease.cancel(bconn, live, holder) is False  # idempotent
    assert pyrelease.cancel(bconn, world["expired"], holder) is True  # expired: also
    assert reservation(bconn, live) == ("AVAILABLE", None, None)
    assert events(bconn) == [(live, holder, "cancelled"), (world["expired"], holder, "cancelled")]
    runs = bconn.execute(
        "SELECT source, released, finished_at IS NOT NULL FROM real_estate.release_run"
    ).fetchall()
    assert runs == [("call", 1, True), ("call", 1, True)]
    assert available_plots(bconn, world["project"]) == 3
    assert violations(bconn) == []


def test_release_reservation_by_id_and_in_its_workspace(
    backend: Backend, bconn: Conn, world: dict[str, Any]
) -> None:
    live = world["free"][0]
    pyrelease.reserve(bconn, live, uuid.uuid4(), HOUR)
    assert pyrelease.release_reservation(bconn, live) is False  # not expired
    assert pyrelease.release_reservation(bconn, world["sold"]) is False
    assert pyrelease.release_reservation(bconn, uuid.uuid4()) is False
    in_workspace = "SELECT real_estate.release_reservation_in_workspace(%s, %s)"
    assert scalar(bconn, in_workspace, (world["off_ws"], world["expired"])) is False
    assert scalar(bconn, in_workspace, (world["ws"], world["expired"])) is True
    assert scalar(bconn, in_workspace, (world["ws"], world["expired"])) is False  # once
    [(ws2, p2)] = [(w, make_project(bconn, w)) for w in [make_workspace(bconn)]]
    [other] = make_properties(bconn, ws2, p2, 1, "RESERVED", expired=True)
    assert pyrelease.release_reservation(bconn, other) is True
    assert pyrelease.release_reservation(bconn, other) is False
    assert [e[0] for e in events(bconn)] == [world["expired"], other]
    assert available_plots(bconn, world["project"]) == 2
    assert violations(bconn) == []


def test_a_sale_and_the_release_exactly_one_wins(
    backend: Backend, bconn: Conn, world: dict[str, Any]
) -> None:
    """The sale holds the row: the release skips it and the next run leaves the SOLD row
    alone. The release holds it (in an open transaction): the sale waits, then finds it
    released (RE005), nothing sold."""
    holder = uuid.uuid4()
    a, b = world["free"]
    for target in (a, b):
        pyrelease.reserve(bconn, target, holder, HOUR)
    seller = backend.connect(autocommit=False)
    seller.execute("SELECT 1")  # its transaction, and so its now(), begins here
    expire = "UPDATE real_estate.property SET reserved_until = now() + %s WHERE id = %s"
    bconn.execute(expire, (timedelta(milliseconds=50), a))  # after the seller's now()
    bconn.execute(expire, (timedelta(seconds=-1), b))
    pyrelease.sell(seller, a, holder)  # still before the expiry for it: held until commit
    bconn.execute("SELECT pg_sleep(0.1)")
    # Both expired now: b is released, a (locked by the sale) skipped.
    assert scalar(bconn, "SELECT real_estate.release_expired_reservations()") == 2
    seller.commit()
    bconn.execute("CALL real_estate.run_release_job()")
    assert reservation(bconn, a) == ("SOLD", None, None)

    [c] = make_properties(bconn, world["ws"], world["project"], 1, "RESERVED", True, holder)
    releaser = backend.connect(autocommit=False)
    assert pyrelease.release_reservation(releaser, c) is True
    failed: list[BaseException] = []

    def sell() -> None:
        with psycopg.connect(backend.dsn, autocommit=True) as s:
            try:
                pyrelease.sell(s, c, holder)
            except BaseException as exc:
                failed.append(exc)

    t = threading.Thread(target=sell)
    t.start()
    t.join(0.3)  # (it waits for the release's row lock, or comes after its commit)
    releaser.commit()
    t.join(30)
    assert len(failed) == 1 and isinstance(failed[0], pyrelease.PropertyNotHeld)
    assert reservation(bconn, c) == ("AVAILABLE", None, None)
    assert violations(bconn) == []


def test_null_and_bad_arguments_are_re010(backend: Backend, bconn: Conn) -> None:
    some = uuid.uuid4()
    for query, params in [
        ("SELECT real_estate.reserve_property(%s, %s)", (None, some)),
        ("SELECT real_estate.reserve_property(%s, %s, interval '-1 hour')", (some, some)),
        ("SELECT real_estate.reserve_property_in_workspace(%s, %s, %s)", (some, some, None)),
        ("SELECT real_estate.extend_reservation(%s, %s, interval '0')", (some, some)),
        ("SELECT real_estate.extend_reservation(%s, %s)", (some, None)),
        ("SELECT real_estate.confirm_sale(%s, %s)", (None, some)),
        ("SELECT real_estate.cancel_reservation(%s, %s)", (some, None)),
        ("SELECT real_estate.release_reservation(%s)", (None,)),
        ("SELECT real_estate.release_reservation_in_workspace(%s, %s)", (None, some)),
    ]:
        with pytest.raises(psycopg.Error) as caught:
            bconn.execute(query, params)
        assert caught.value.sqlstate == "RE010", query
