"""Release events: the row type, and what listen() (sync and async) share.

A release event is one row of real_estate.release_event. Every transaction that writes
some sends one ``NOTIFY real_estate_release`` at commit; the notification only wakes the
listener up: it then reads real_estate.release_events() after its cursor, so a missed
notification (the listener was reconnecting) loses nothing, and an event is yielded once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg.conninfo import make_conninfo

from .errors import DatabaseUnavailable, InvalidArgument, require

CHANNEL = "real_estate_release"
DEFAULT_LIMIT = 1000
# listen() reads again after this long even without a notification: a transaction that
# held back a gap in the ids may have rolled back (and so sent nothing).
POLL_INTERVAL = 1.0
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)  # then 5 s between attempts
NOT_HEARD = (
    f"listen: LISTEN does not reach this connection (a transaction pooler?): polling"
    f" release_events() every {POLL_INTERVAL:g} s instead"
)

# listen() from cursor 0 (a new consumer) says once what the log retention purged before it.
PURGED = (
    "listen: release events up to #%d were purged (log retention): starting from the oldest"
    " kept, after #%d"
)

Reason = Literal["expired", "cancelled"]


@dataclass(frozen=True)
class ReleaseEvent:
    """One ended reservation, as real_estate.release_event keeps it.

    ``reason`` is ``"expired"`` (released after its expiry, by the release or by a
    takeover in reserve()) or ``"cancelled"`` (given back by its holder, cancel()).
    ``reserved_by_id`` and ``reserved_until`` are the previous holder and expiry.
    """

    id: int
    run_id: int
    property_id: UUID
    workspace_id: UUID
    project_id: UUID | None
    reserved_by_id: UUID
    reserved_until: datetime
    released_at: datetime
    reason: Reason

    def as_json(self) -> dict[str, Any]:
        """The event as JSON-ready values (ids and times as strings)."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "property_id": str(self.property_id),
            "workspace_id": str(self.workspace_id),
            "project_id": str(self.project_id) if self.project_id is not None else None,
            "reserved_by_id": str(self.reserved_by_id),
            "reserved_until": self.reserved_until.isoformat(),
            "released_at": self.released_at.isoformat(),
            "reason": self.reason,
        }


def to_events(rows: list[tuple[Any, ...]]) -> list[ReleaseEvent]:
    return [ReleaseEvent(*row) for row in rows]


def id_param(value: UUID | str | None) -> str | None:
    """An id as the query takes it: None stays NULL (the database refuses it: RE010)."""
    return None if value is None else str(value)


def check_read_args(after_id: int, limit: int) -> dict[str, int]:
    require(after_id, int, "after_id")
    require(limit, int, "limit")
    return {"after_id": after_id, "limit": limit}


def check_listen_args(after_id: int, timeout: float | None, autocommit: bool) -> None:
    require(after_id, int, "after_id")
    if after_id < 0:
        raise InvalidArgument(f"after_id must be a non-negative integer, got {after_id}")
    if timeout is not None:
        require(timeout, (int, float), "timeout")
        if not timeout >= 0:  # also refuses NaN
            raise InvalidArgument(f"timeout must be >= 0 seconds or None, got {timeout!r}")
    if not autocommit:
        raise InvalidArgument(
            "listen() needs a connection in autocommit mode (notifications arrive between"
            " transactions; it would otherwise hold one open)"
        )


def conninfo_of(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> str:
    """The connection's own parameters, password included (libpq's PQconninfo), to open
    another connection like it after this one is lost."""
    params = {
        option.keyword.decode(): option.val.decode()
        for option in conn.pgconn.info
        if option.val is not None and option.val != b""
    }
    return make_conninfo("", **params)


def is_lost(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    return conn.closed or conn.broken


def lost_error(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | DatabaseUnavailable)


class Clock:
    """listen()'s timeout: the time left without a new event (None: forever)."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.reset()

    def reset(self) -> None:
        self.deadline = None if self.timeout is None else time.monotonic() + self.timeout

    def left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def wait_for(self) -> float:
        """How long to wait for a notification before reading again (<= 0: stop)."""
        left = self.left()
        return POLL_INTERVAL if left is None else min(POLL_INTERVAL, left)


def reconnect_delay(attempt: int) -> float:
    return RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
