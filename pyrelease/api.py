"""Thin synchronous wrappers: each sends one named query and returns its one value.

They run in the caller's transaction (psycopg opens one unless the connection is in
autocommit mode): commit to make a reservation or a release stick.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

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

DEFAULT_BATCH_SIZE = 1000
DEFAULT_TTL = timedelta(hours=24)


def _one(conn: psycopg.Connection[Any], name: str, params: dict[str, Any]) -> Any:
    with translated(property_id=params.get("property_id")):
        row = conn.execute(QUERIES[name], params, prepare=False).fetchone()
    return expect_row(row, name)[0]


def release_expired(conn: psycopg.Connection[Any], batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Release every expired reservation of ACTIVE workspaces; return how many."""
    require(batch_size, int, "batch_size")
    return int(_one(conn, "release_expired", {"batch_size": batch_size}))


def release_reservation(conn: psycopg.Connection[Any], property_id: UUID | str) -> bool:
    """Release one property's reservation if it has expired; True when it did."""
    return bool(_one(conn, "release_reservation", {"property_id": id_param(property_id)}))


def reserve(
    conn: psycopg.Connection[Any],
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
    result: datetime = _one(conn, "reserve", params)
    return result


# --- the reservation lifecycle and release events ---------------------------------------


def extend(
    conn: psycopg.Connection[Any],
    property_id: UUID | str,
    reserved_by_id: UUID | str,
    ttl: timedelta = DEFAULT_TTL,
) -> datetime:
    """The holder moves an unexpired reservation's expiry to now + ttl; return it.
    PropertyNotHeld (RE005) when it is not this holder's unexpired reservation."""
    require(ttl, timedelta, "ttl")
    params = {
        "property_id": id_param(property_id),
        "reserved_by_id": id_param(reserved_by_id),
        "ttl": ttl,
    }
    result: datetime = _one(conn, "extend", params)
    return result


def cancel(
    conn: psycopg.Connection[Any], property_id: UUID | str, reserved_by_id: UUID | str
) -> bool:
    """The holder gives the property back (expired or not); True when it did, False when it
    was not this holder's reservation (another holder, not reserved, unknown). Idempotent."""
    params = {"property_id": id_param(property_id), "reserved_by_id": id_param(reserved_by_id)}
    return bool(_one(conn, "cancel", params))


def sell(
    conn: psycopg.Connection[Any], property_id: UUID | str, reserved_by_id: UUID | str
) -> None:
    """The holder's unexpired reservation becomes SOLD; against the release exactly one
    wins. PropertyNotHeld (RE005) when it is not this holder's unexpired reservation."""
    params = {"property_id": id_param(property_id), "reserved_by_id": id_param(reserved_by_id)}
    _one(conn, "sell", params)


def release_events(
    conn: psycopg.Connection[Any], after_id: int = 0, limit: int = DEFAULT_LIMIT
) -> list[ReleaseEvent]:
    """The release events after id `after_id`, in id order (at most `limit`, 1 to 10000).
    None is ever skipped: advancing a cursor to the last id returned is safe. Events past
    an id still in flight (a running transaction may commit it) wait for it. EventsPurged
    (RE030) when events after `after_id` were purged by the log retention; `after_id` 0 is
    a new consumer: the events still kept, from the oldest."""
    params = check_read_args(after_id, limit)
    with translated():
        rows = conn.execute(QUERIES["release_events"], params, prepare=False).fetchall()
    return to_events(rows)


def listen(
    conn: psycopg.Connection[Any],
    after_id: int = 0,
    timeout: float | None = None,
    *,
    reconnect: bool = True,
) -> Iterator[ReleaseEvent]:
    """Yield every release event after id `after_id` as it is committed, each exactly once
    and in id order; stop after `timeout` seconds without a new one (None: never).

    LISTENs on `conn` (autocommit) and reads release_events() after its cursor whenever a
    notification arrives (and every second, in case one was missed). Behind a transaction
    pooler, where LISTEN does not reach the client, it reads every second and says so once
    in the log. When the connection
    is lost and `reconnect` is true, it opens a new one with the same parameters (retrying
    with backoff until the timeout, or forever) and goes on from its cursor: nothing is
    lost or repeated. The new connection is closed when the iterator is.

    From `after_id` 0 (a new consumer) it yields the events still kept, from the oldest,
    and logs once (INFO) up to which id the log retention purged them. Events after a
    cursor above 0 that were purged raise EventsPurged (RE030), never a silent jump.
    """
    check_listen_args(after_id, timeout, conn.autocommit)
    conninfo = conninfo_of(conn) if reconnect else ""
    clock = Clock(timeout)
    cursor = after_id

    def subscribe(c: psycopg.Connection[Any]) -> None:
        with translated():
            c.execute(QUERIES["listen"], prepare=False)

    def heard(c: psycopg.Connection[Any]) -> bool:
        with translated():
            row = c.execute(QUERIES["listening"], prepare=False).fetchone()
        return bool(row and row[0])

    def oldest_kept(c: psycopg.Connection[Any]) -> int:
        with translated():
            row = c.execute(QUERIES["events_purged"], prepare=False).fetchone()
        purged = int(row[0]) if row else 0
        if purged:
            log.info(PURGED, purged, purged)
        return purged

    owned: psycopg.Connection[Any] | None = None
    subscribed = polling = False
    fresh = after_id == 0
    try:
        while True:
            try:
                if not subscribed:
                    subscribe(conn)
                    subscribed = True
                if fresh:  # a new consumer: from the oldest event kept
                    cursor, fresh = oldest_kept(conn), False
                events = release_events(conn, cursor)
                if not polling and not heard(conn):
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
                for _ in conn.notifies(timeout=wait, stop_after=1):
                    pass
            except Exception as exc:
                if not (reconnect and lost_error(exc) and is_lost(conn)):
                    raise
                log.warning("listen: connection lost (%s); reconnecting", first_line(exc))
                if owned is not None:
                    owned.close()
                owned = conn = _reconnect(conninfo, clock)
                subscribed = False
    finally:
        if owned is not None:
            owned.close()
        elif subscribed and not is_lost(conn):
            with contextlib.suppress(psycopg.Error):
                conn.execute(QUERIES["unlisten"], prepare=False)


def _reconnect(conninfo: str, clock: Clock) -> psycopg.Connection[Any]:
    attempt = 0
    while True:
        try:
            return psycopg.connect(conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            left = clock.left()
            if left is not None and left <= 0:
                message = f"listen: could not reconnect: {first_line(exc)}"
                raise DatabaseUnavailable(message) from exc
            delay = reconnect_delay(attempt)
            log.warning("listen: reconnect failed (%s); retrying in %.1f s", first_line(exc), delay)
            time.sleep(delay if left is None else max(0.0, min(delay, left)))
            attempt += 1
