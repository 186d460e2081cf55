"""Async twins of pyrelease's wrappers, for psycopg.AsyncConnection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from .api import DEFAULT_BATCH_SIZE, DEFAULT_TTL
from .errors import DatabaseUnavailable, expect_row, first_line, require, translated
from .events import (
    DEFAULT_LIMIT,
    NOT_HEARD,
    PURGED,
    Clock,
    ReleaseEvent,
    check_listen_args,
    check_read_args,
    conninfo_of,
    id_param,
    is_lost,
    lost_error,
    reconnect_delay,
    to_events,
)
from .queries import QUERIES

log = logging.getLogger("pyrelease")


async def _one(conn: psycopg.AsyncConnection[Any], name: str, params: dict[str, Any]) -> Any:
    with translated(property_id=params.get("property_id")):
        cursor = await conn.execute(QUERIES[name], params, prepare=False)
        row = await cursor.fetchone()
    return expect_row(row, name)[0]


async def release_expired(
    conn: psycopg.AsyncConnection[Any], batch_size: int = DEFAULT_BATCH_SIZE
) -> int:
    """Release every expired reservation of ACTIVE workspaces; return how many."""
    require(batch_size, int, "batch_size")
    return int(await _one(conn, "release_expired", {"batch_size": batch_size}))


async def release_reservation(conn: psycopg.AsyncConnection[Any], property_id: UUID | str) -> bool:
    """Release one property's reservation if it has expired; True when it did."""
    return bool(await _one(conn, "release_reservation", {"property_id": id_param(property_id)}))


async def reserve(
    conn: psycopg.AsyncConnection[Any],
    property_id: UUID | str,
    reserved_by_id: UUID | str,
    ttl: timedelta = DEFAULT_TTL,
) -> datetime:
    """Reserve a property (or take over an expired reservation); return reserved_until."""
    require(ttl, timedelta, "ttl")
    params = {
        "property_id": id_param(property_id),
        "reserved_by_id": id_param(reserved_by_id),
        "ttl": ttl,
    }
    result: datetime = await _one(conn, "reserve", params)
    return result


# --- the reservation lifecycle and release events ---------------------------------------


async def extend(
    conn: psycopg.AsyncConnection[Any],
    property_id: UUID | str,
    reserved_by_id: UUID | str,
    ttl: timedelta = DEFAULT_TTL,
) -> datetime:
    """The holder moves an unexpired reservation's expiry to now + ttl; return it."""
    require(ttl, timedelta, "ttl")
    params = {
        "property_id": id_param(property_id),
        "reserved_by_id": id_param(reserved_by_id),
        "ttl": ttl,
    }
    result: datetime = await _one(conn, "extend", params)
    return result


async def cancel(
    conn: psycopg.AsyncConnection[Any], property_id: UUID | str, reserved_by_id: UUID | str
) -> bool:
    """The holder gives the property back (expired or not); True when it did."""
    params = {"property_id": id_param(property_id), "reserved_by_id": id_param(reserved_by_id)}
    return bool(await _one(conn, "cancel", params))


async def sell(
    conn: psycopg.AsyncConnection[Any], property_id: UUID | str, reserved_by_id: UUID | str
) -> None:
    """The holder's unexpired reservation becomes SOLD (PropertyNotHeld otherwise)."""
    params = {"property_id": id_param(property_id), "reserved_by_id": id_param(reserved_by_id)}
    await _one(conn, "sell", params)


async def release_events(
    conn: psycopg.AsyncConnection[Any], after_id: int = 0, limit: int = DEFAULT_LIMIT
) -> list[ReleaseEvent]:
    """The release events after id `after_id`, in id order, none ever skipped (EventsPurged
    when events after it were purged; 0: from the oldest kept)."""
    params = check_read_args(after_id, limit)
    with translated():
        cursor = await conn.execute(QUERIES["release_events"], params, prepare=False)
        rows = await cursor.fetchall()
    return to_events(rows)


async def listen(
    conn: psycopg.AsyncConnection[Any],
    after_id: int = 0,
    timeout: float | None = None,
    *,
    reconnect: bool = True,
) -> AsyncIterator[ReleaseEvent]:
    """pyrelease.listen() for an AsyncConnection: an async iterator of the release events
    after `after_id`, each exactly once and in id order, across reconnects (from 0: the
    events still kept, the purged range logged once; EventsPurged when events after a cursor
    above 0 were purged)."""
    check_listen_args(after_id, timeout, conn.autocommit)
    conninfo = conninfo_of(conn) if reconnect else ""
    clock = Clock(timeout)
    cursor = after_id

    async def subscribe(c: psycopg.AsyncConnection[Any]) -> None:
        with translated():
            await c.execute(QUERIES["listen"], prepare=False)

    async def heard(c: psycopg.AsyncConnection[Any]) -> bool:
        with translated():
            row = await (await c.execute(QUERIES["listening"], prepare=False)).fetchone()
        return bool(row and row[0])

    async def oldest_kept(c: psycopg.AsyncConnection[Any]) -> int:
        with translated():
            row = await (await c.execute(QUERIES["events_purged"], prepare=False)).fetchone()
        purged = int(row[0]) if row else 0
        if purged:
            log.info(PURGED, purged, purged)
        return purged

    owned: psycopg.AsyncConnection[Any] | None = None
    subscribed = polling = False
    fresh = after_id == 0
    try:
        while True:
            try:
                if not subscribed:
                    await subscribe(conn)
                    subscribed = True
                if fresh:  # a new consumer: from the oldest event kept
                    cursor, fresh = await oldest_kept(conn), False
                events = await release_events(conn, cursor)
                if not polling and not await heard(conn):
                    log.warning(NOT_HEARD)
                    polling = True
                for event in events:
                    yield event
                    cursor = event.id
                if events:
                    clock.reset()
                if len(events) == DEFAULT_LIMIT:
                    continue
                wait = clock.wait_for()
                if wait <= 0:
                    return
                async for _ in conn.notifies(timeout=wait, stop_after=1):
                    pass
            except Exception as exc:
                if not (reconnect and lost_error(exc) and is_lost(conn)):
                    raise
                log.warning("listen: connection lost (%s); reconnecting", first_line(exc))
                if owned is not None:
                    await owned.close()
                owned = conn = await _reconnect(conninfo, clock)
                subscribed = False
    finally:
        if owned is not None:
            await owned.close()
        elif subscribed and not is_lost(conn):
            with contextlib.suppress(psycopg.Error):
                await conn.execute(QUERIES["unlisten"], prepare=False)


async def _reconnect(conninfo: str, clock: Clock) -> psycopg.AsyncConnection[Any]:
    attempt = 0
    while True:
        try:
            return await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            left = clock.left()
            if left is not None and left <= 0:
                message = f"listen: could not reconnect: {first_line(exc)}"
                raise DatabaseUnavailable(message) from exc
            delay = reconnect_delay(attempt)
            log.warning("listen: reconnect failed (%s); retrying in %.1f s", first_line(exc), delay)
            await asyncio.sleep(delay if left is None else max(0.0, min(delay, left)))
            attempt += 1
