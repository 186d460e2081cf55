"""Release events as they happen: one NOTIFY per transaction that writes some (at commit,
never on rollback), release_events() never skipping an id still in flight, and listen()
yielding each event exactly once, in id order, across missed notifications and a forced
reconnect (sync and async)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import pyrelease
from pyrelease import ReleaseEvent
from tests.factories import make_project, make_properties, make_workspace, scalar

Conn = psycopg.Connection[Any]
Connect = Callable[..., Conn]
CHANNEL = "real_estate_release"


def listener(connect: Connect) -> Conn:
    c = connect()
    c.execute(f"LISTEN {CHANNEL}")
    return c


def received(c: Conn, wait: float = 0.3) -> list[dict[str, int]]:
    return [json.loads(n.payload) for n in c.notifies(timeout=wait)]


def expired(conn: Conn, n: int) -> list[uuid.UUID]:
    ws = make_workspace(conn)
    return make_properties(conn, ws, make_project(conn, ws), n, "RESERVED", expired=True)


def held(conn: Conn, n: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """n live reservations of one holder, each in a project of its own (so that an open
    transaction's counter lock on one project does not hold back a writer of another)."""
    ws = make_workspace(conn)
    holder = uuid.uuid4()
    ids = [
        make_properties(conn, ws, make_project(conn, ws), 1, "RESERVED", False, holder)[0]
        for _ in range(n)
    ]
    return holder, ids


def event_ids(conn: Conn) -> list[int]:
    return [r[0] for r in conn.execute("SELECT id FROM real_estate.release_event ORDER BY id")]


# --------------------------------------------------------------------------- NOTIFY


def test_one_notification_per_transaction_sent_at_commit(conn: Conn, connect: Connect) -> None:
    expired(conn, 25)
    lis = listener(connect)
    writer = connect(autocommit=False)
    # Three batches: three INSERT statements into release_event, one transaction.
    assert scalar(writer, "SELECT real_estate.release_expired_reservations(10)") == 25
    assert received(lis) == [], "nothing before commit"
    writer.commit()
    ids = event_ids(conn)
    assert received(lis) == [{"min_id": ids[0], "max_id": ids[-1], "count": 25}]
    assert scalar(conn, "SELECT count(*) FROM real_estate.release_notification") == 0


def test_no_notification_on_rollback_nor_without_events(conn: Conn, connect: Connect) -> None:
    expired(conn, 3)
    lis = listener(connect)
    writer = connect(autocommit=False)
    assert scalar(writer, "SELECT real_estate.release_expired_reservations()") == 3
    writer.rollback()
    assert received(lis) == []
    assert pyrelease.release_expired(conn) == 3
    assert [n["count"] for n in received(lis)] == [3]
    assert pyrelease.release_expired(conn) == 0  # nothing to do: nothing sent
    assert pyrelease.cancel(conn, uuid.uuid4(), uuid.uuid4()) is False
    assert received(lis) == []
    assert scalar(conn, "SELECT count(*) FROM real_estate.release_notification") == 0


def test_scheduled_run_notifies_once_per_committed_batch(conn: Conn, connect: Connect) -> None:
    expired(conn, 25)
    lis = listener(connect)
    conn.execute("CALL real_estate.run_release_job(10)")
    got = received(lis)
    assert [n["count"] for n in got] == [10, 10, 5]
    ids = event_ids(conn)
    assert got[-1]["max_id"] == ids[-1]
    assert sum(n["count"] for n in got) == len(ids) == 25


def test_every_writer_in_one_transaction_shares_one_notification(
    conn: Conn, connect: Connect
) -> None:
    holder, (a, b, c) = held(conn, 3)
    [old] = expired(conn, 1)
    lis = listener(connect)
    writer = connect(autocommit=False)
    assert pyrelease.cancel(writer, a, holder)
    writer.execute("SAVEPOINT s")
    assert pyrelease.cancel(writer, b, holder)
    writer.execute("ROLLBACK TO SAVEPOINT s")  # b's event and its count are undone
    pyrelease.reserve(writer, old, uuid.uuid4())  # takes over the expired reservation
    assert pyrelease.cancel(writer, c, holder)
    writer.commit()
    rows = conn.execute(
        "SELECT id, property_id, reason FROM real_estate.release_event ORDER BY id"
    ).fetchall()
    assert [(r[1], r[2]) for r in rows] == [(a, "cancelled"), (old, "expired"), (c, "cancelled")]
    assert received(lis) == [{"min_id": rows[0][0], "max_id": rows[-1][0], "count": 3}]


def test_a_notification_per_transaction_also_after_an_error(conn: Conn, connect: Connect) -> None:
    """A session whose transaction failed leaves no state behind for the next one."""
    holder, (a, b) = held(conn, 2)
    lis = listener(connect)
    writer = connect(autocommit=False)
    assert pyrelease.cancel(writer, a, holder)
    with pytest.raises(psycopg.errors.DivisionByZero):
        writer.execute("SELECT 1 / 0")
    writer.rollback()
    assert pyrelease.cancel(writer, b, holder)
    writer.commit()
    [note] = received(lis)
    assert note["count"] == 1
    assert note["max_id"] == event_ids(conn)[-1]


# --------------------------------------------------------------------------- release_events


def test_release_events_stops_before_an_id_still_in_flight(conn: Conn, connect: Connect) -> None:
    holder, (a, b, c) = held(conn, 3)
    assert pyrelease.cancel(conn, a, holder)
    first = pyrelease.release_events(conn)
    assert [e.property_id for e in first] == [a]
    slow = connect(autocommit=False)
    assert pyrelease.cancel(slow, b, holder)  # takes the next id, not committed yet
    assert pyrelease.cancel(conn, c, holder)  # a higher id, committed
    reader = connect()
    assert pyrelease.release_events(reader, first[-1].id) == []  # c waits behind b
    slow.commit()
    assert [e.property_id for e in pyrelease.release_events(reader, first[-1].id)] == [b, c]


def test_release_events_passes_a_gap_left_by_a_rollback(conn: Conn, connect: Connect) -> None:
    holder, (a, b) = held(conn, 2)
    slow = connect(autocommit=False)
    assert pyrelease.cancel(slow, a, holder)
    assert pyrelease.cancel(conn, b, holder)
    assert pyrelease.release_events(conn) == []
    slow.rollback()  # the gap is final now
    got = pyrelease.release_events(conn)
    assert [e.property_id for e in got] == [b]
    assert got[0].id > 1
    assert isinstance(got[0], ReleaseEvent)
    with pytest.raises(AttributeError):
        got[0].reason = "expired"  # type: ignore[misc]  # frozen


def test_release_events_pages_in_id_order(conn: Conn) -> None:
    expired(conn, 30)
    pyrelease.release_expired(conn)
    seen: list[int] = []
    cursor = 0
    while page := pyrelease.release_events(conn, cursor, limit=7):
        seen += [e.id for e in page]
        cursor = page[-1].id
    assert seen == event_ids(conn)


def test_release_events_refuses_repeatable_read(conn: Conn, connect: Connect) -> None:
    rr = connect(autocommit=False)
    rr.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    with pytest.raises(psycopg.errors.FeatureNotSupported, match="READ COMMITTED"):
        pyrelease.release_events(rr)


# --------------------------------------------------------------------------- listen


class Collector(threading.Thread):
    """listen() in a thread, collecting ids until it stops (timeout without events)."""

    def __init__(self, dsn: str, after: int = 0, timeout: float = 4.0) -> None:
        super().__init__(daemon=True)
        self.conn = psycopg.connect(dsn, autocommit=True, application_name="pyrelease-listen-test")
        self.after, self.timeout = after, timeout
        self.ids: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for event in pyrelease.listen(self.conn, after_id=self.after, timeout=self.timeout):
                self.ids.append(event.id)
        except BaseException as exc:
            self.error = exc
        finally:
            self.conn.close()


def kill_listener(conn: Conn) -> int:
    return int(
        scalar(
            conn,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'pyrelease-listen-test'",
        )
    )


def test_listen_yields_each_event_once_in_order_across_a_forced_reconnect(
    db: str, conn: Conn
) -> None:
    holder, ids = held(conn, 40)
    for p in ids[:5]:
        assert pyrelease.cancel(conn, p, holder)
    collector = Collector(db, after=0)
    collector.start()
    time.sleep(0.5)
    for p in ids[5:15]:
        assert pyrelease.cancel(conn, p, holder)
    time.sleep(0.5)
    assert kill_listener(conn) == 1
    for p in ids[15:30]:  # written while the listener is away: no notification reaches it
        assert pyrelease.cancel(conn, p, holder)
    time.sleep(1.5)
    assert kill_listener(conn) == 1  # the new connection, killed too
    for p in ids[30:]:
        assert pyrelease.cancel(conn, p, holder)
    collector.join(timeout=30)
    assert not collector.is_alive()
    assert collector.error is None, collector.error
    assert collector.ids == event_ids(conn)  # each once, in id order
    assert len(collector.ids) == 40


def test_listen_waits_for_an_event_in_flight_then_yields_both_in_order(
    db: str, conn: Conn, connect: Connect
) -> None:
    holder, (a, b) = held(conn, 2)
    collector = Collector(db, timeout=3.0)
    collector.start()
    time.sleep(0.3)
    slow = connect(autocommit=False)
    assert pyrelease.cancel(slow, a, holder)
    assert pyrelease.cancel(conn, b, holder)
    time.sleep(1.5)
    assert collector.ids == []  # b is committed but a, before it, is still in flight
    slow.commit()
    collector.join(timeout=30)
    assert collector.error is None
    assert collector.ids == event_ids(conn)
    assert len(collector.ids) == 2


def test_listen_refuses_bad_arguments(conn: Conn, connect: Connect) -> None:
    tx = connect(autocommit=False)
    for kwargs, c in [
        ({"after_id": -1}, conn),
        ({"after_id": "1"}, conn),
        ({"timeout": -1}, conn),
        ({"timeout": float("nan")}, conn),
        ({}, tx),
    ]:
        with pytest.raises(pyrelease.InvalidArgument):
            next(pyrelease.listen(c, **kwargs))


def test_listen_without_reconnect_raises_when_the_connection_is_lost(db: str, conn: Conn) -> None:
    c = psycopg.connect(db, autocommit=True, application_name="pyrelease-listen-test")
    it = pyrelease.listen(c, timeout=10, reconnect=False)
    with pytest.raises((psycopg.OperationalError, pyrelease.DatabaseUnavailable)):
        threading.Timer(0.5, kill_listener, (conn,)).start()
        next(it)
    c.close()


async def test_async_listen_across_a_forced_reconnect(db: str, conn: Conn) -> None:
    import asyncio

    from pyrelease import aio

    holder, ids = held(conn, 20)
    for p in ids[:5]:
        assert pyrelease.cancel(conn, p, holder)
    aconn = await psycopg.AsyncConnection.connect(
        db, autocommit=True, application_name="pyrelease-listen-test"
    )
    got: list[int] = []

    async def consume() -> None:
        async for event in aio.listen(aconn, after_id=0, timeout=4.0):
            got.append(event.id)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.5)

    def write(chunk: list[uuid.UUID]) -> None:
        for p in chunk:
            assert pyrelease.cancel(conn, p, holder)

    await asyncio.to_thread(write, ids[5:10])
    await asyncio.sleep(0.5)
    assert await asyncio.to_thread(kill_listener, conn) == 1
    await asyncio.to_thread(write, ids[10:])
    await asyncio.wait_for(task, timeout=30)
    await aconn.close()
    assert got == event_ids(conn)
    assert len(got) == 20
