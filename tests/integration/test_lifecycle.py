"""The reservation lifecycle after reserve(): extend, cancel, sell (SQL and Python, sync and
async), with their errors, logs and counters; release_event.reason."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

import pyrelease
from pyrelease import InvalidArgument, PropertyNotFound, PropertyNotHeld, WorkspaceNotActive
from tests.factories import (
    assert_counters_exact,
    available_plots,
    make_project,
    make_properties,
    make_workspace,
    property_row,
    scalar,
)

Conn = psycopg.Connection[Any]
HOUR = timedelta(hours=1)


@pytest.fixture
def world(conn: Conn) -> dict[str, Any]:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    holder = uuid.uuid4()
    [live] = make_properties(conn, ws, project, 1, "RESERVED", expired=False, reserved_by_id=holder)
    [expired] = make_properties(
        conn, ws, project, 1, "RESERVED", expired=True, reserved_by_id=holder
    )
    [free] = make_properties(conn, ws, project, 1)
    [sold] = make_properties(conn, ws, project, 1, "SOLD")
    return {
        "ws": ws,
        "project": project,
        "holder": holder,
        "live": live,
        "expired": expired,
        "free": free,
        "sold": sold,
    }


def events(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT property_id, reserved_by_id, reason, reserved_until > released_at"
        " FROM real_estate.release_event ORDER BY id"
    ).fetchall()


def violations(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM real_estate.check_invariants()").fetchall()


# --------------------------------------------------------------------------- extend


def test_extend_moves_the_expiry_of_the_holders_reservation(
    conn: Conn, world: dict[str, Any]
) -> None:
    until = pyrelease.extend(conn, world["live"], world["holder"], timedelta(hours=5))
    now = scalar(conn, "SELECT now()")
    assert timedelta(hours=5) - timedelta(seconds=5) < until - now <= timedelta(hours=5)
    row = conn.execute(
        "SELECT status, reserved_by_id, reserved_until FROM real_estate.property WHERE id = %s",
        (world["live"],),
    ).fetchone()
    assert row == ("RESERVED", world["holder"], until)
    # Shorter is allowed too: the expiry becomes now() + ttl.
    shorter = pyrelease.extend(conn, world["live"], world["holder"], timedelta(minutes=1))
    assert shorter < until
    assert events(conn) == []


@pytest.mark.parametrize(
    ("which", "holder", "message"),
    [
        ("live", "other", "is held by another holder, reserved until"),
        ("expired", "holder", "has expired, reserved until"),
        ("free", "holder", "is not reserved (it is AVAILABLE)"),
        ("sold", "holder", "is not reserved (it is SOLD)"),
    ],
)
@pytest.mark.parametrize("call", ["extend", "sell"])
def test_extend_and_sell_refuse_what_the_holder_does_not_hold(
    conn: Conn, world: dict[str, Any], call: str, which: str, holder: str, message: str
) -> None:
    property_id = world[which]
    holder_id = world["holder"] if holder == "holder" else uuid.uuid4()
    before = property_row(conn, property_id)
    with pytest.raises(PropertyNotHeld, match=re.escape(message)) as caught:
        if call == "extend":
            pyrelease.extend(conn, property_id, holder_id, HOUR)
        else:
            pyrelease.sell(conn, property_id, holder_id)
    error = caught.value
    assert error.sqlstate == "RE005"
    assert error.property_id == property_id
    stored_until = before[6]
    assert error.reserved_until == stored_until  # None when not reserved
    assert isinstance(error, pyrelease.PyreleaseError)
    assert property_row(conn, property_id) == before
    assert events(conn) == []


@pytest.mark.parametrize("call", ["extend", "sell"])
def test_extend_and_sell_unknown_property_and_inactive_workspace(conn: Conn, call: str) -> None:
    def run(property_id: uuid.UUID, holder: uuid.UUID) -> None:
        if call == "extend":
            pyrelease.extend(conn, property_id, holder)
        else:
            pyrelease.sell(conn, property_id, holder)

    missing = uuid.uuid4()
    with pytest.raises(PropertyNotFound) as caught:
        run(missing, uuid.uuid4())
    assert caught.value.sqlstate == "RE001"
    assert caught.value.property_id == missing

    ws = make_workspace(conn, "SUSPENDED")
    holder = uuid.uuid4()
    [held] = make_properties(conn, ws, make_project(conn, ws), 1, "RESERVED", False, holder)
    before = property_row(conn, held)
    with pytest.raises(WorkspaceNotActive) as refused:
        run(held, holder)
    assert refused.value.sqlstate == "RE004"
    assert property_row(conn, held) == before


@pytest.mark.parametrize(
    "ttl", [timedelta(0), timedelta(seconds=-1), "1 hour", None, 3600], ids=repr
)
def test_extend_refuses_a_bad_ttl(conn: Conn, world: dict[str, Any], ttl: Any) -> None:
    before = property_row(conn, world["live"])
    with pytest.raises(InvalidArgument):
        pyrelease.extend(conn, world["live"], world["holder"], ttl)
    assert property_row(conn, world["live"]) == before


# --------------------------------------------------------------------------- sell


def test_sell_makes_the_holders_reservation_sold(conn: Conn, world: dict[str, Any]) -> None:
    counts = assert_counters_exact(conn)
    assert pyrelease.sell(conn, world["live"], world["holder"]) is None  # type: ignore[func-returns-value]
    row = conn.execute(
        "SELECT status, reserved_by_id, reserved_until FROM real_estate.property WHERE id = %s",
        (world["live"],),
    ).fetchone()
    assert row == ("SOLD", None, None)
    assert assert_counters_exact(conn) == counts  # RESERVED -> SOLD: no AVAILABLE change
    assert events(conn) == []
    with pytest.raises(PropertyNotHeld, match="it is SOLD"):
        pyrelease.sell(conn, world["live"], world["holder"])


# --------------------------------------------------------------------------- cancel


def test_cancel_gives_the_property_back_and_logs_it(conn: Conn, world: dict[str, Any]) -> None:
    before = available_plots(conn, world["project"])
    assert pyrelease.cancel(conn, world["live"], world["holder"]) is True
    assert available_plots(conn, world["project"]) == before + 1
    assert property_row(conn, world["live"])[4:7] == ("AVAILABLE", None, None)
    # Logged with its previous holder and expiry, reason cancelled (before its expiry).
    assert events(conn) == [(world["live"], world["holder"], "cancelled", True)]
    run = conn.execute(
        "SELECT r.source, r.released, r.finished_at IS NOT NULL FROM real_estate.release_run AS r"
        " JOIN real_estate.release_event AS e ON e.run_id = r.id"
    ).fetchall()
    assert run == [("call", 1, True)]
    # Idempotent: the second call does nothing.
    assert pyrelease.cancel(conn, world["live"], world["holder"]) is False
    assert len(events(conn)) == 1
    assert violations(conn) == []
    assert_counters_exact(conn)


def test_cancel_an_expired_reservation_and_anything_else(conn: Conn, world: dict[str, Any]) -> None:
    assert pyrelease.cancel(conn, world["expired"], world["holder"]) is True
    assert events(conn) == [(world["expired"], world["holder"], "cancelled", False)]
    before = {k: property_row(conn, world[k]) for k in ("live", "free", "sold")}
    assert pyrelease.cancel(conn, world["live"], uuid.uuid4()) is False  # another holder
    assert pyrelease.cancel(conn, world["free"], world["holder"]) is False
    assert pyrelease.cancel(conn, world["sold"], world["holder"]) is False
    assert pyrelease.cancel(conn, uuid.uuid4(), world["holder"]) is False  # unknown
    assert {k: property_row(conn, world[k]) for k in before} == before
    assert len(events(conn)) == 1
    # The release finds nothing left of it.
    assert pyrelease.release_expired(conn) == 0
    assert violations(conn) == []


def test_cancel_in_a_suspended_workspace(conn: Conn) -> None:
    """Giving a reservation back is never refused (the release leaves such workspaces alone)."""
    ws = make_workspace(conn, "SUSPENDED")
    holder = uuid.uuid4()
    [held] = make_properties(conn, ws, make_project(conn, ws), 1, "RESERVED", False, holder)
    assert pyrelease.cancel(conn, held, holder) is True
    assert events(conn) == [(held, holder, "cancelled", True)]


def test_reasons_of_release_and_takeover_are_expired(conn: Conn, world: dict[str, Any]) -> None:
    ws, project = world["ws"], world["project"]
    [taken] = make_properties(conn, ws, project, 1, "RESERVED", expired=True)
    pyrelease.reserve(conn, taken, uuid.uuid4(), HOUR)  # takes over the expired reservation
    assert pyrelease.release_expired(conn) == 1  # world["expired"]
    assert {r[2] for r in events(conn)} == {"expired"}
    assert len(events(conn)) == 2
    assert violations(conn) == []


def test_reason_is_checked_and_cancelled_may_precede_the_expiry(conn: Conn) -> None:
    insert = (
        "INSERT INTO real_estate.release_event (run_id, property_id, workspace_id,"
        " reserved_by_id, reserved_until, released_at, reason)"
        " VALUES (1, gen_random_uuid(), gen_random_uuid(), gen_random_uuid(),"
        " now() + interval '1 hour', now(), %s)"
    )
    with pytest.raises(psycopg.errors.CheckViolation, match="release_event_expired_check"):
        conn.execute(insert, ("expired",))
    with pytest.raises(psycopg.errors.CheckViolation, match="release_event_reason_check"):
        conn.execute(insert, ("sold",))
    conn.execute(insert, ("cancelled",))


# --------------------------------------------------------------------------- SQL, NULLs


@pytest.mark.parametrize(
    "query",
    [
        "SELECT real_estate.extend_reservation(NULL, gen_random_uuid())",
        "SELECT real_estate.extend_reservation(gen_random_uuid(), NULL)",
        "SELECT real_estate.extend_reservation(gen_random_uuid(), gen_random_uuid(), NULL)",
        "SELECT real_estate.cancel_reservation(NULL, gen_random_uuid())",
        "SELECT real_estate.cancel_reservation(gen_random_uuid(), NULL)",
        "SELECT real_estate.confirm_sale(NULL, gen_random_uuid())",
        "SELECT real_estate.confirm_sale(gen_random_uuid(), NULL)",
        "SELECT * FROM real_estate.release_events(NULL)",
        "SELECT * FROM real_estate.release_events(-1)",
        "SELECT * FROM real_estate.release_events(0, 0)",
        "SELECT * FROM real_estate.release_events(0, 10001)",
        "SELECT * FROM real_estate.release_events(0, NULL)",
    ],
)
def test_sql_null_and_out_of_range_arguments_are_re010(conn: Conn, query: str) -> None:
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(query)
    assert caught.value.sqlstate == "RE010"


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("cancel", ("not-a-uuid", uuid.uuid4())),
        ("extend", (uuid.uuid4(), "not-a-uuid")),
        ("sell", ("", uuid.uuid4())),
        ("release_events", (-1,)),
        ("release_events", (0, 0)),
        ("release_events", ("1",)),
        ("release_events", (True,)),
        ("release_events", (2**63,)),
    ],
)
def test_python_bad_arguments_are_invalid_argument(conn: Conn, call: str, args: Any) -> None:
    with pytest.raises(InvalidArgument) as caught:
        getattr(pyrelease, call)(conn, *args)
    assert hasattr(caught.value, "sqlstate")


# --------------------------------------------------------------------------- async twins


async def test_async_twins(db: str, conn: Conn, world: dict[str, Any]) -> None:
    from pyrelease import aio

    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as aconn:
        until = await aio.extend(aconn, world["live"], world["holder"], HOUR)
        assert until == property_row(conn, world["live"])[6]
        with pytest.raises(PropertyNotHeld) as caught:
            await aio.sell(aconn, world["expired"], world["holder"])
        assert caught.value.sqlstate == "RE005"
        assert await aio.cancel(aconn, world["expired"], world["holder"]) is True
        await aio.sell(aconn, world["live"], world["holder"])
        got = await aio.release_events(aconn)
        assert [(e.property_id, e.reason) for e in got] == [(world["expired"], "cancelled")]
        assert got == pyrelease.release_events(conn)
