"""The API behind a real PgBouncer (1.18: no protocol-level prepared statements), in
transaction and in session pooling: every call works on a pooled connection the application
hands it, and listen() keeps its promise where LISTEN does not reach the client."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from factories import assert_counters_exact, make_project, make_properties, make_workspace, scalar
from pgbouncer import available, pgbouncer

import pyrelease

pytestmark = pytest.mark.skipif(
    not available(), reason="pgbouncer is not installed (make setup installs it)"
)

CLIENTS = 8
CALLS = 1000


@pytest.fixture(params=["transaction", "session"])
def pooled(request: pytest.FixtureRequest, db: str) -> Any:
    with pgbouncer(db, request.param) as dsn:
        yield dsn


def test_every_call_works_on_a_pooled_connection(
    pooled: str, conn: psycopg.Connection[Any]
) -> None:
    """8 clients, 1,000 calls in all (reserve, extend, sell or cancel, release_expired,
    release_events), each on a plain psycopg connection through the pooler: no call fails."""
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    per_client = CALLS // CLIENTS // 5
    free = make_properties(conn, ws, project, CLIENTS * per_client)
    make_properties(conn, ws, project, 20, "RESERVED")  # expired
    failures: list[str] = []

    def client(n: int) -> None:
        mine = free[n * per_client : (n + 1) * per_client]
        holder = uuid.uuid4()
        after = 0
        with psycopg.connect(pooled) as c:
            for i, prop in enumerate(mine):
                try:
                    pyrelease.reserve(c, prop, holder, ttl=timedelta(hours=1))
                    c.commit()
                    pyrelease.extend(c, prop, holder, ttl=timedelta(hours=2))
                    c.commit()
                    if i % 2:
                        pyrelease.sell(c, prop, holder)
                    else:
                        pyrelease.cancel(c, prop, holder)
                    c.commit()
                    pyrelease.release_expired(c, batch_size=5)
                    c.commit()
                    events = pyrelease.release_events(c, after)
                    after = events[-1].id if events else after
                    c.commit()
                except Exception as exc:  # every failure is one
                    failures.append(f"{type(exc).__name__}: {exc}")
                    c.rollback()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [], f"{len(failures)} of {CALLS} calls failed, e.g. {failures[:3]}"
    cancelled = CLIENTS * len(range(0, per_client, 2))
    assert scalar(conn, "SELECT count(*) FROM real_estate.release_event") == 20 + cancelled
    assert_counters_exact(conn)


@pytest.mark.parametrize("pool_mode", ["transaction", "session"])
def test_listen_through_a_pooler_yields_every_event(
    pool_mode: str, db: str, conn: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Behind transaction pooling LISTEN does not reach the client: listen() polls (it reads
    every second anyway) and says so once in the log; in session pooling it is woken up."""
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    settings = {"server_round_robin": "1", "min_pool_size": "2"}
    got: list[int] = []
    with (
        pgbouncer(db, pool_mode, **settings) as dsn,
        psycopg.connect(dsn, autocommit=True) as listener,
    ):
        caplog.set_level(logging.INFO, logger="pyrelease")

        def consume() -> None:
            for event in pyrelease.listen(listener, after_id=0, timeout=8):
                got.append(event.id)
                if len(got) == 12:
                    return

        thread = threading.Thread(target=consume)
        thread.start()
        for _ in range(6):  # six transactions of two releases each
            make_properties(conn, ws, project, 2, "RESERVED")
            assert pyrelease.release_expired(conn) == 2
        thread.join(30)
        assert not thread.is_alive()
    ids = [r[0] for r in conn.execute("SELECT id FROM real_estate.release_event ORDER BY id")]
    assert got == ids and len(ids) == 12
    polling = [r for r in caplog.records if "polling" in r.getMessage()]
    assert len(polling) == (1 if pool_mode == "transaction" else 0), [
        r.getMessage() for r in caplog.records
    ]
