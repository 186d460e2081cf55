"""`python -m tests.benchmarks.xacts [BATCH ...]`: the scheduled run's transactions, one by one.

Builds the benchmark's 1M template on the `make db` cluster (or $PYRELEASE_BENCH_DSN), then for
each batch size (default 250 and 100) releases its 50,000 expired reservations with CALL
real_estate.run_release_job(p_batch_size => b) alone, sampling pg_stat_activity.xact_start of
the backend every 2 ms; prints the transactions seen, the five longest (the two picks are the
two read-only ones at the top) and the median. Drops everything it created.
"""

from __future__ import annotations

import sys
import time

import psycopg

from . import contenders as c
from .__main__ import default_dsn
from .data import Cluster, build_template


def main(argv: list[str]) -> int:
    batches = [int(b) for b in argv] or [250, 100]
    cluster = Cluster(default_dsn())
    cluster.drop_leftovers()
    template = build_template(cluster, 1_000_000)
    try:
        for batch in batches:
            name = f"pyrelease_bench_xacts_{batch}"
            with (
                cluster.copy(template, name) as dsn,
                psycopg.connect(dsn, autocommit=True) as conn,
            ):
                sampler = c.XactSampler(dsn, conn.info.backend_pid, 0.002)
                sampler.start()
                sampler.ready.wait()
                started = time.perf_counter()
                conn.execute(c.scheduled_call(batch))
                wall = time.perf_counter() - started
                sampler.stop()
            ages = sorted(sampler.ages.values(), reverse=True)
            print(
                f"batch {batch}: wall {wall:.2f} s, {len(ages)} transactions seen, longest"
                f" {[round(a) for a in ages[:5]]} ms, {sum(a > 50 for a in ages)} over 50 ms,"
                f" median {ages[len(ages) // 2]:.1f} ms",
                flush=True,
            )
    finally:
        cluster.drop_template(template)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
