"""listen() yielding each event exactly once, in id order, across missed notifications and a
forced reconnect (sync and async), and its argument checks. What the NOTIFY, release_events()
and listen() promise on both back-ends is in tests/backends/test_backend_events.py."""

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
