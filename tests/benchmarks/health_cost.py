"""What a read of the health rule costs: real_estate.release_health() at N properties.

    python -m tests.benchmarks.health_cost [--dsn DSN] [--sizes 1000000] [--calls 50]

Builds the benchmark's template (tests/benchmarks/data.py: N properties, 5% expired), copies
it, registers a */5 job, writes its heartbeat and the run log a 30-day retention keeps when
every run releases something (8,640 scheduled runs: the rule sums the failed rows of the recent
ones), then times the calls an exporter makes:
release_health(false) every scrape, release_health(true) (with the counter drift: a scan of
property) every cache period; with the template's backlog, then once it is released (the
steady state). Prints the median and 95th percentile of the wall time per call, each call a
new statement on one warm connection.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

import psycopg

from .__main__ import default_dsn
from .data import PREFIX, Cluster, build_template, label, progress

RUNS_KEPT = 30 * 24 * 12  # a */5 schedule's runs over the default 30-day retention


def timed(conn: psycopg.Connection[object], counters: bool, calls: int) -> tuple[float, float]:
    """Median and p95 wall time (ms) of one release_health() call."""
    query = "SELECT * FROM real_estate.release_health(%s)"
    conn.execute(query, (counters,)).fetchall()  # warm
    spent = []
    for _ in range(calls):
        started = time.perf_counter()
        conn.execute(query, (counters,)).fetchall()
        spent.append((time.perf_counter() - started) * 1000)
    spent.sort()
    return statistics.median(spent), spent[int(0.95 * (len(spent) - 1))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.health_cost")
    parser.add_argument("--dsn", default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args(argv)
    cluster = Cluster(args.dsn or default_dsn())
    cluster.drop_leftovers()
    for n in args.sizes:
        template = build_template(cluster, n)
        with (
            cluster.copy(template, f"{PREFIX}health_{label(n)}".lower()) as dsn,
            psycopg.connect(dsn, autocommit=True) as conn,
        ):
            conn.execute(
                "INSERT INTO real_estate.release_schedule (job_name, jobid, schedule,"
                " cron_database, schedule_interval, active, registered_at)"
                " VALUES ('bench', 1, '*/5 * * * *', 'postgres', '5 minutes', true,"
                " now() - interval '30 days')"
            )
            conn.execute(
                "INSERT INTO real_estate.release_run (source, started_at, finished_at)"
                " SELECT 'pg_cron', now() - g * interval '5 minutes',"
                "        now() - g * interval '5 minutes' + interval '50 ms'"
                "   FROM generate_series(1, %s) AS g",
                (RUNS_KEPT,),
            )
            conn.execute(
                "INSERT INTO real_estate.release_heartbeat (started_at, finished_at)"
                " VALUES (now() - interval '5 minutes', now() - interval '5 minutes'"
                " + interval '50 ms')"
            )
            conn.execute("VACUUM ANALYZE real_estate.release_run")
            for state in ("backlog of 5%", "steady state"):
                if state == "steady state":
                    progress(f"N={label(n)}: releasing the backlog")
                    conn.execute("SELECT real_estate.release_expired_reservations()")
                    conn.execute("VACUUM ANALYZE real_estate.property")
                for counters in (False, True):
                    median, p95 = timed(conn, counters, args.calls)
                    print(
                        f"N={label(n)} {state}: release_health({str(counters).lower()})"
                        f" median {median:.1f} ms, p95 {p95:.1f} ms ({args.calls} calls)",
                        flush=True,
                    )
        cluster.drop_template(template)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
