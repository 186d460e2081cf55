"""pyrelease ships its types (py.typed): a client using the API passes `mypy --strict`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest

CLIENT = """
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from uuid import UUID

import psycopg

import pyrelease


def lifecycle(dsn: str, property_id: UUID, buyer: UUID) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        until: datetime = pyrelease.reserve(conn, property_id, buyer, ttl=timedelta(hours=2))
        later: datetime = pyrelease.extend(conn, property_id, buyer, timedelta(hours=4))
        assert later >= until
        try:
            pyrelease.sell(conn, property_id, buyer)
        except pyrelease.PropertyNotHeld as exc:
            code: str | None = exc.sqlstate
            held_until: datetime | None = exc.reserved_until
            which: UUID | None = exc.property_id
            print(code, held_until, which)
        gave_back: bool = pyrelease.cancel(conn, property_id, buyer)
        released: int = pyrelease.release_expired(conn, batch_size=500)
        done: bool = pyrelease.release_reservation(conn, property_id)
        print(gave_back, released, done)
        events: list[pyrelease.ReleaseEvent] = pyrelease.release_events(conn, after_id=0, limit=10)
        for event in pyrelease.listen(conn, after_id=events[-1].id if events else 0, timeout=1.0):
            reason: str = event.reason
            holder: UUID = event.reserved_by_id
            project: UUID | None = event.project_id
            print(event.id + 1, reason, holder, project, event.released_at.isoformat())


async def watch(dsn: str) -> int:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as aconn:
        seen = 0
        async for event in pyrelease.aio.listen(aconn, after_id=0, timeout=1.0):
            seen = max(seen, event.id)
        ok: bool = await pyrelease.aio.cancel(aconn, UUID(int=1), UUID(int=2))
        until: datetime = await pyrelease.aio.extend(aconn, UUID(int=1), UUID(int=2))
        await pyrelease.aio.sell(aconn, UUID(int=1), UUID(int=2))
        rows: list[pyrelease.ReleaseEvent] = await pyrelease.aio.release_events(aconn)
        print(ok, until, rows)
        return seen


if __name__ == "__main__":
    asyncio.run(watch("postgresql://"))
"""


def test_py_typed_is_in_the_package() -> None:
    assert files("pyrelease").joinpath("py.typed").is_file()


def test_a_client_of_the_api_passes_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    (tmp_path / "client.py").write_text(CLIENT)
    # Run from an empty folder: pyrelease is found as an installed package (its py.typed),
    # not as source beside the client.
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "client.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout
    shutil.rmtree(tmp_path / ".mypy_cache", ignore_errors=True)
