"""Thin synchronous wrappers: each sends one named query and returns its one value.

They run in the caller's transaction (psycopg opens one unless the connection is in
autocommit mode): commit to make a reservation or a release stick.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from .errors import expect_row, require, translated
from .queries import QUERIES

DEFAULT_BATCH_SIZE = 1000
DEFAULT_TTL = timedelta(hours=24)


def _one(conn: psycopg.Connection[Any], name: str, params: dict[str, Any]) -> Any:
    with translated(property_id=params.get("property_id")):
        row = conn.execute(QUERIES[name], params).fetchone()
    return expect_row(row, name)[0]


def release_expired(conn: psycopg.Connection[Any], batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Release every expired reservation of ACTIVE workspaces; return how many."""
    require(batch_size, int, "batch_size")
    return int(_one(conn, "release_expired", {"batch_size": batch_size}))


def release_reservation(conn: psycopg.Connection[Any], property_id: UUID | str) -> bool:
    """Release one property's reservation if it has expired; True when it did."""
    return bool(_one(conn, "release_reservation", {"property_id": str(property_id)}))


def reserve(
    conn: psycopg.Connection[Any],
    property_id: UUID | str,
    reserved_by_id: UUID | str,
    ttl: timedelta = DEFAULT_TTL,
) -> datetime:
    """Reserve a property (or take over an expired reservation); return reserved_until."""
    require(ttl, timedelta, "ttl")
    params = {"property_id": str(property_id), "reserved_by_id": str(reserved_by_id), "ttl": ttl}
    result: datetime = _one(conn, "reserve", params)
    return result
