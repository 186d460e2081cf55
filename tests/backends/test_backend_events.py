"""Release events, on a single node and on Citus alike: one NOTIFY per transaction that
writes some, at commit, never on rollback (on Citus armed on the coordinator, where the
listeners are); release_events() in id order, never skipping an id still in flight (on Citus
the coordinator gives out every id and holds the writer's lock until the workers have
committed); listen() yielding each event exactly once, in id order."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from backend import Backend, Conn
from factories import (
    Collector,
    event_ids,
    held,
    make_project,
    make_properties,
    make_workspace,
    scalar,
    violations,
)

import pyrelease

CHANNEL = "real_estate_release"


def listener(backend: Backend) -> Conn:
    c = backend.connect()
    c.execute(f"LISTEN {CHANNEL}")
    return c


def received(c: Conn, wait: float = 0.3) -> list[dict[str, int]]:
    return [json.loads(n.payload) for n in c.notifies(timeout=wait)]


def expired(conn: Conn, n: int) -> list[uuid.UUID]:
    ws = make_workspace(conn)
    return make_properties(conn, ws, make_project(conn, ws), n, "RESERVED", expired=True)


def test_one_notification_per_transaction_sent_at_commit(backend: Backend, bconn: Conn) -> None:
    expired(bconn, 25)
    lis = listener(backend)
    writer = backend.connect(autocommit=False)
    # Three batches: three INSERT statements into release_event, one transaction.
    assert scalar(writer, "SELECT real_estate.release_expired_reservations(10)") == 25
    assert received(lis) == [], "nothing before commit"
    writer.commit()
    ids = event_ids(bconn)
    assert received(lis) == [{"min_id": ids[0], "max_id": ids[-1], "count": 25}]
    assert scalar(bconn, "SELECT count(*) FROM real_estate.release_notification") == 0


def test_no_notification_on_rollback_nor_without_events(backend: Backend, bconn: Conn) -> None:
    expired(bconn, 3)
    lis = listener(backend)
    writer = backend.connect(autocommit=False)
    assert scalar(writer, "SELECT real_estate.release_expired_reservations()") == 3
    writer.rollback()
    assert received(lis) == []
    assert pyrelease.release_expired(bconn) == 3
    assert [n["count"] for n in received(lis)] == [3]
    assert pyrelease.release_expired(bconn) == 0  # nothing to do: nothing sent
    assert pyrelease.cancel(bconn, uuid.uuid4(), uuid.uuid4()) is False
    assert received(lis) == []
    assert scalar(bconn, "SELECT count(*) FROM real_estate.release_notification") == 0


def test_scheduled_run_notifies_once_per_committed_batch(backend: Backend, bconn: Conn) -> None:
    expired(bconn, 25)
    lis = listener(backend)
    bconn.execute("CALL real_estate.run_release_job(10)")
    got = received(lis)
    assert [n["count"] for n in got] == [10, 10, 5]
    ids = event_ids(bconn)
    assert got[-1]["max_id"] == ids[-1]
    assert sum(n["count"] for n in got) == len(ids) == 25


def test_every_writer_in_one_transaction_shares_one_notification(
    backend: Backend, bconn: Conn
) -> None:
    holder, (a, b, c) = held(bconn, 3)
    [old] = expired(bconn, 1)
    lis = listener(backend)
    writer = backend.connect(autocommit=False)
    assert pyrelease.cancel(writer, a, holder)
    writer.execute("SAVEPOINT s")
    assert pyrelease.cancel(writer, b, holder)
    writer.execute("ROLLBACK TO SAVEPOINT s")  # b's event and its count are undone
    pyrelease.reserve(writer, old, uuid.uuid4())  # takes over the expired reservation
    assert pyrelease.cancel(writer, c, holder)
    writer.commit()
    rows = bconn.execute(
        "SELECT id, property_id, reason FROM real_estate.release_event ORDER BY id"
    ).fetchall()
    assert [(r[1], r[2]) for r in rows] == [(a, "cancelled"), (old, "expired"), (c, "cancelled")]
    assert received(lis) == [{"min_id": rows[0][0], "max_id": rows[-1][0], "count": 3}]


def test_a_notification_per_transaction_also_after_an_error(backend: Backend, bconn: Conn) -> None:
    """A session whose transaction failed leaves no state behind for the next one."""
    holder, (a, b) = held(bconn, 2)
    lis = listener(backend)
    writer = backend.connect(autocommit=False)
    assert pyrelease.cancel(writer, a, holder)
    with pytest.raises(psycopg.errors.DivisionByZero):
        writer.execute("SELECT 1 / 0")
    writer.rollback()
    assert pyrelease.cancel(writer, b, holder)
    writer.commit()
    [note] = received(lis)
    assert note["count"] == 1
    assert note["max_id"] == event_ids(bconn)[-1]


# --------------------------------------------------------------------------- release_events


def test_release_events_pages_in_id_order(backend: Backend, bconn: Conn) -> None:
    for _ in range(6):
        ws = make_workspace(bconn)
        make_properties(bconn, ws, make_project(bconn, ws), 5, "RESERVED", expired=True)
    assert pyrelease.release_expired(bconn, batch_size=4) == 30
    seen: list[int] = []
    cursor = 0
    while page := pyrelease.release_events(bconn, cursor, limit=7):
        seen += [e.id for e in page]
        cursor = page[-1].id
    assert seen == event_ids(bconn)
    assert len(seen) == 30


def test_release_events_stops_before_an_id_still_in_flight(backend: Backend, bconn: Conn) -> None:
    holder, (a, b, c) = held(bconn, 3)
    assert pyrelease.cancel(bconn, a, holder)
    first = pyrelease.release_events(bconn)
    assert [e.property_id for e in first] == [a]
    slow = backend.connect(autocommit=False)
    assert pyrelease.cancel(slow, b, holder)  # takes the next id, not committed yet
    assert pyrelease.cancel(bconn, c, holder)  # a higher id, committed
    reader = backend.connect()
    assert pyrelease.release_events(reader, first[-1].id) == []  # c waits behind b
    slow.commit()
    assert [e.property_id for e in pyrelease.release_events(reader, first[-1].id)] == [b, c]


def test_release_events_passes_a_gap_left_by_a_rollback(backend: Backend, bconn: Conn) -> None:
    holder, (a, b) = held(bconn, 2)
    slow = backend.connect(autocommit=False)
    assert pyrelease.cancel(slow, a, holder)
    assert pyrelease.cancel(bconn, b, holder)
    assert pyrelease.release_events(bconn) == []
    slow.rollback()  # the gap is final now
    assert [e.property_id for e in pyrelease.release_events(bconn)] == [b]


def test_release_events_refuses_repeatable_read(backend: Backend) -> None:
    rr = backend.connect(autocommit=False)
    rr.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    with pytest.raises(psycopg.errors.FeatureNotSupported, match="READ COMMITTED"):
        pyrelease.release_events(rr)


def test_listen_yields_every_event_once_in_order(backend: Backend, bconn: Conn) -> None:
    holder, ids = held(bconn, 12)
    for p in ids[:4]:
        assert pyrelease.cancel(bconn, p, holder)
    collector = Collector(backend.dsn)
    collector.start()
    for p in ids[4:]:  # while it listens: cancellations and a release
        assert pyrelease.cancel(bconn, p, holder)
    ws = make_workspace(bconn)
    make_properties(bconn, ws, make_project(bconn, ws), 3, "RESERVED", expired=True)
    bconn.execute("CALL real_estate.run_release_job(2)")
    collector.join(timeout=60)
    assert not collector.is_alive()
    assert collector.error is None, collector.error
    assert collector.ids == event_ids(bconn)  # each once, in id order
    assert len(collector.ids) == 15


def test_listen_waits_for_an_event_in_flight_then_yields_both_in_order(
    backend: Backend, bconn: Conn
) -> None:
    holder, (a, b) = held(bconn, 2)
    slow = backend.connect(autocommit=False)
    assert pyrelease.cancel(slow, a, holder)
    assert pyrelease.cancel(bconn, b, holder)
    collector = Collector(backend.dsn, timeout=3.0)
    collector.start()
    collector.join(timeout=1.5)  # b is committed, but a, before it, is still in flight
    got_before = list(collector.ids)
    slow.commit()
    collector.join(timeout=60)
    assert collector.error is None, collector.error
    assert got_before == []
    assert collector.ids == event_ids(bconn)
    assert len(collector.ids) == 2


def test_notification_survives_set_constraints_all_immediate(backend: Backend, bconn: Conn) -> None:
    """SET CONSTRAINTS ALL IMMEDIATE in force when the transaction writes its first event: the
    notification still goes at commit and leaves nothing in release_notification."""
    holder, (a, b) = held(bconn, 2)
    lis = listener(backend)
    writer = backend.connect(autocommit=False)
    writer.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert pyrelease.cancel(writer, a, holder)
    assert pyrelease.cancel(writer, b, holder)
    writer.commit()
    ids = event_ids(bconn)
    assert received(lis) == [{"min_id": ids[0], "max_id": ids[-1], "count": 2}]
    assert scalar(bconn, "SELECT count(*) FROM real_estate.release_notification") == 0


def test_reserve_cancel_twice_in_one_transaction_is_no_double_release(
    backend: Backend, bconn: Conn
) -> None:
    """Within one transaction now() does not move: reserve, cancel, reserve, cancel logs two
    events of identical (property, holder, expiry), two reservations, not one released twice."""
    ws = make_workspace(bconn)
    [p] = make_properties(bconn, ws, make_project(bconn, ws), 1, "AVAILABLE")
    buyer = uuid.uuid4()
    writer = backend.connect(autocommit=False)
    for _ in range(2):
        pyrelease.reserve(writer, p, buyer)
        assert pyrelease.cancel(writer, p, buyer)
    writer.commit()
    assert scalar(bconn, "SELECT count(*) FROM real_estate.release_event") == 2
    assert violations(bconn) == []
