"""listen() yielding each event exactly once, in id order, across missed notifications and a
forced reconnect (sync and async), and its argument checks. What the NOTIFY, release_events()
and listen() promise on both back-ends is in tests/backends/test_backend_events.py."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import pyrelease
from tests.factories import (
    Collector,
    event_ids,
    held,
    scalar,
)

Conn = psycopg.Connection[Any]
Connect = Callable[..., Conn]


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
    killer = threading.Timer(0.5, kill_listener, (conn,))
    with pytest.raises((psycopg.OperationalError, pyrelease.DatabaseUnavailable)):
        killer.start()
        next(it)
    killer.join()  # done with `conn` before the fixture closes it
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
