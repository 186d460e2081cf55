"""Async twins of pyrelease's wrappers, for psycopg.AsyncConnection."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from .api import DEFAULT_BATCH_SIZE, DEFAULT_TTL
from .errors import expect_row, require, translated
from .queries import QUERIES


async def _one(conn: psycopg.AsyncConnection[Any], name: str, params: dict[str, Any]) -> Any:
    with translated(property_id=params.get("property_id")):
        cursor = await conn.execute(QUERIES[name], params)
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
    return bool(await _one(conn, "release_reservation", {"property_id": str(property_id)}))


async def reserve(
    conn: psycopg.AsyncConnection[Any],
    property_id: UUID | str,
    reserved_by_id: UUID | str,
    ttl: timedelta = DEFAULT_TTL,
) -> datetime:
    """Reserve a property (or take over an expired reservation); return reserved_until."""
    require(ttl, timedelta, "ttl")
    params = {"property_id": str(property_id), "reserved_by_id": str(reserved_by_id), "ttl": ttl}
    result: datetime = await _one(conn, "reserve", params)
    return result
