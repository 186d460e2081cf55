"""Release events, on a single node and on Citus alike: one NOTIFY per transaction that
writes some, at commit, never on rollback (on Citus armed on the coordinator, where the
listeners are); release_events() in id order, never skipping an id still in flight (every
writer announces the lowest id it may draw before drawing; on Citus the coordinator gives out
every id and release_rows announces there), never held back by a writer that cannot fill a
gap, never skipping purged events without a word; listen() yielding each event exactly once,
in id order; the health rule's age of the oldest event held back."""

from __future__ import annotations

import json
import logging
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
from pyrelease import EventsPurged

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


def properties(events: list[pyrelease.ReleaseEvent]) -> list[uuid.UUID]:
    return [e.property_id for e in events]


def test_a_writer_that_cannot_fill_a_final_gap_holds_nobody_back(
    backend: Backend, bconn: Conn
) -> None:
    """A rolled-back takeover leaves a final gap; an application then writes an event and
    stays idle in its transaction: it cannot fill the gap (all its ids are above it), so the
    events before its own id are delivered; only those after its id wait for it. (Before,
    every consumer waited for it, however long it idled.)"""
    holder, (a, b, c) = held(bconn, 3)
    [old] = expired(bconn, 1)
    taker = backend.connect(autocommit=False)
    pyrelease.reserve(taker, old, uuid.uuid4())  # takes over: an event id in flight
    assert pyrelease.cancel(bconn, a, holder)  # a higher id, committed
    reader = backend.connect()
    assert pyrelease.release_events(reader) == []  # a waits behind the takeover's id
    taker.rollback()  # the gap is final
    app = backend.connect(autocommit=False)
    assert pyrelease.cancel(app, b, holder)  # b in flight: the application idles
    assert properties(pyrelease.release_events(reader)) == [a]
    assert pyrelease.cancel(bconn, c, holder)  # c after b: waits for b, never skips it
    assert properties(pyrelease.release_events(reader)) == [a]
    app.commit()
    assert properties(pyrelease.release_events(reader)) == [a, b, c]


def test_health_gives_the_age_of_the_oldest_event_held_back(backend: Backend, bconn: Conn) -> None:
    holder, (a, b) = held(bconn, 2)

    def held_back() -> float:
        query = "SELECT event_feed_held_back_seconds FROM real_estate.release_health(false)"
        return float(scalar(backend.connect(), query))

    assert held_back() == 0
    slow = backend.connect(autocommit=False)
    assert pyrelease.cancel(slow, a, holder)
    assert held_back() == 0  # in flight, but nothing committed after it
    assert pyrelease.cancel(bconn, b, holder)  # committed after a's id: held back
    assert held_back() > 0
    slow.commit()
    assert held_back() == 0


def old_run(conn: Conn, days: int = 40) -> int:
    """A release run that started `days` ago (the retention purges it)."""
    return int(
        scalar(
            conn,
            "INSERT INTO real_estate.release_run (source, started_at, finished_at)"
            " VALUES ('call', now() - %s * interval '1 day', now() - %s * interval '1 day')"
            " RETURNING id",
            (days, days),
        )
    )


def old_events(conn: Conn, n: int, run_id: int | None = None) -> list[int]:
    """n release events of an old run (a new one by default), written by hand."""
    run = old_run(conn) if run_id is None else run_id
    return [
        int(
            scalar(
                conn,
                "INSERT INTO real_estate.release_event (run_id, property_id, workspace_id,"
                " reserved_by_id, reserved_until, released_at, reason) VALUES (%s,"
                " gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), now(), now(),"
                " 'cancelled') RETURNING id",
                (run,),
            )
        )
        for _ in range(n)
    ]


def purged_through(conn: Conn) -> int:
    return int(scalar(conn, "SELECT purged_through FROM real_estate.release_event_purged"))


def test_purged_events_are_never_skipped_without_a_word(
    backend: Backend, bconn: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    """The purge deletes a prefix of the ids and records the highest: a cursor below it gets
    EventsPurged (RE030) with the first id kept; a new consumer (cursor 0) gets the events
    still kept, the purged range named once in listen()'s log."""
    purged = old_events(bconn, 3)
    holder, (a, b) = held(bconn, 2)
    assert pyrelease.cancel(bconn, a, holder) and pyrelease.cancel(bconn, b, holder)
    assert scalar(bconn, "SELECT real_estate.purge_release_log('30 days')") == 1
    assert (
        scalar(bconn, "SELECT purged_through FROM real_estate.release_event_purged") == (purged[-1])
    )
    with pytest.raises(EventsPurged) as raised:
        pyrelease.release_events(bconn, purged[0])
    assert raised.value.sqlstate == "RE030"
    assert raised.value.oldest_kept_id == purged[-1] + 1
    assert f"after id {purged[0]} were purged up to id {purged[-1]}" in str(raised.value)
    assert properties(pyrelease.release_events(bconn, purged[-1])) == [a, b]
    assert properties(pyrelease.release_events(bconn)) == [a, b]  # a new consumer
    with pytest.raises(EventsPurged):
        next(pyrelease.listen(backend.connect(), after_id=purged[1], timeout=0))
    with caplog.at_level(logging.INFO, logger="pyrelease"):
        got = list(pyrelease.listen(backend.connect(), after_id=0, timeout=0))
    assert properties(got) == [a, b]
    named = [r.getMessage() for r in caplog.records if "purged" in r.getMessage()]
    assert named == [
        f"listen: release events up to #{purged[-1]} were purged (log retention): starting"
        f" from the oldest kept, after #{purged[-1]}"
    ]


def test_the_purge_deletes_a_prefix_of_the_ids(backend: Backend, bconn: Conn) -> None:
    """An old run's event after a recent one stays (with its run) until it is the oldest."""
    run = old_run(bconn)
    [first] = old_events(bconn, 1, run)
    holder, (a,) = held(bconn, 1)
    assert pyrelease.cancel(bconn, a, holder)  # a recent run's event
    [late] = old_events(bconn, 1, run)  # the old run's, after it
    for _ in range(2):
        assert scalar(bconn, "SELECT real_estate.purge_release_log('30 days')") == 0
        assert event_ids(bconn)[0] > first and late in event_ids(bconn)
        assert purged_through(bconn) == first
    got = pyrelease.release_events(bconn, first)
    assert [e.id for e in got] == event_ids(bconn) and properties(got)[0] == a


def test_the_purge_keeps_what_an_open_writer_may_still_commit(
    backend: Backend, bconn: Conn
) -> None:
    """Nothing at or above the lowest id an open transaction may commit is purged: a consumer
    could not have read past it, and its commit must not land below the record."""
    run = old_run(bconn)
    [first] = old_events(bconn, 1, run)
    holder, (a,) = held(bconn, 1)
    slow = backend.connect(autocommit=False)
    assert pyrelease.cancel(slow, a, holder)  # in flight, above first
    after = old_events(bconn, 2, run)  # old, committed, above a's id
    assert scalar(bconn, "SELECT real_estate.purge_release_log('30 days')") == 0
    assert purged_through(bconn) == first
    assert set(after) <= set(event_ids(bconn))
    slow.commit()
    assert properties(pyrelease.release_events(bconn, first))[0] == a


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
