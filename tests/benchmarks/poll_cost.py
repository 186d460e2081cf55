"""What a listener that polls costs: listen()'s cycle with no new event, directly and behind
a PgBouncer in transaction pooling (where LISTEN does not reach the client and listen() reads
every second instead of waiting for a notification).

    python -m tests.benchmarks.poll_cost [--dsn DSN] [--events 100000] [--cycles 3000]

Creates pyrelease_bench_poll (migrated, `--events` release events in its log), then times
`--cycles` of the cycle listen() runs once a second while nothing happens: release_events()
after the latest id and the check that LISTEN reaches the session. Prints the median and p99
time per cycle as the client sees it, the server CPU per cycle (the backend's schedstat; with
PgBouncer, its server connections'), and what one polling listener costs per day (86,400
cycles).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from typing import Any

import psycopg

import pyrelease
from pyrelease.queries import QUERIES

from .__main__ import default_dsn
from .contenders import backend_cpu_s
from .data import Cluster

DB = "pyrelease_bench_poll"
PER_DAY = 86_400


def fill(conn: psycopg.Connection[Any], events: int) -> int:
    """`events` release events (one run) and the highest id."""
    conn.execute(
        """
        WITH run AS (INSERT INTO real_estate.release_run (source, started_at, finished_at, released)
                     VALUES ('call', now(), now(), %(n)s) RETURNING id)
        INSERT INTO real_estate.release_event
            (run_id, property_id, workspace_id, project_id, reserved_by_id, reserved_until,
             released_at)
        SELECT run.id, gen_random_uuid(), gen_random_uuid(), NULL, gen_random_uuid(),
               now() - interval '1 hour', now()
          FROM run, generate_series(1, %(n)s)
        """,
        {"n": events},
    )
    row = conn.execute("SELECT max(id) FROM real_estate.release_event").fetchone()
    return int(row[0]) if row and row[0] else 0


def server_pids(admin: psycopg.Connection[Any]) -> list[int]:
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (DB,),
    ).fetchall()
    return [r[0] for r in rows]


def cycles(
    dsn: str, admin: psycopg.Connection[Any], after: int, n: int
) -> tuple[list[float], float]:
    """Per-cycle client times (ms) and the server CPU (s) of `n` polling cycles."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(QUERIES["listen"], prepare=False)
        for _ in range(50):  # warm up the session's plans and caches
            pyrelease.release_events(conn, after)
            conn.execute(QUERIES["listening"], prepare=False).fetchone()
        pids = server_pids(admin)
        cpu0 = sum(backend_cpu_s(p) or 0.0 for p in pids)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            assert pyrelease.release_events(conn, after) == []
            conn.execute(QUERIES["listening"], prepare=False).fetchone()
            times.append((time.perf_counter() - t0) * 1000)
        cpu = sum(backend_cpu_s(p) or 0.0 for p in pids) - cpu0
    return times, cpu


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.poll_cost")
    parser.add_argument("--dsn", default=None)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--cycles", type=int, default=3000)
    args = parser.parse_args(argv)
    cluster = Cluster(args.dsn or default_dsn())
    cluster.create(DB)
    dsn = cluster.dsn_for(DB)
    try:
        pyrelease.migrate(dsn, schedule=False)
        with psycopg.connect(dsn, autocommit=True) as admin:
            after = fill(admin, args.events)
            rows = [("direct", *cycles(dsn, admin, after, args.cycles))]
            try:
                from tests.pgbouncer import available, pgbouncer
            except ImportError:
                available = None  # type: ignore[assignment]
            if available is not None and available():
                with pgbouncer(dsn, "transaction") as pooled:
                    rows.append(
                        (
                            "PgBouncer, transaction pooling",
                            *cycles(pooled, admin, after, args.cycles),
                        )
                    )
        print(f"listen()'s polling cycle, {args.cycles} cycles, {args.events:,} events in the log:")
        print(
            "| connection | median ms | p99 ms | server CPU ms/cycle"
            " | server CPU s/day (1 listener) |"
        )
        print("|---|---|---|---|---|")
        for name, times, cpu in rows:
            p99 = statistics.quantiles(times, n=100)[98]
            per = cpu / args.cycles
            print(
                f"| {name} | {statistics.median(times):.3f} | {p99:.3f} | {per * 1000:.3f}"
                f" | {per * PER_DAY:.1f} |"
            )
    finally:
        cluster.drop(DB)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
