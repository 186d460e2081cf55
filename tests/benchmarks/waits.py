"""`python -m tests.benchmarks.waits [ROUNDS]`: what the reserving clients wait on, with no
release running, while one core is busy, and while the scheduled run releases.

Builds the benchmark's 1M template and its 100,000-row backlog on the `make db` cluster (or
$PYRELEASE_BENCH_DSN). In each round (default 3), on fresh copies of the backlog, 8 pgbench
clients reserve at 200/s (as in `make bench`'s interference section) three times: alone; while a
backend spins on the CPU for 4 s (`contenders.busy_core`); while CALL
real_estate.run_release_job() releases the backlog. A side connection samples
pg_stat_activity every ~1 ms and counts, for the backends running a reserve, their wait events
(`CPU` when none). Prints, per case, the p50/p99 of all rounds' reserves pooled and the share of
each wait event. The sampler takes CPU too: compare the cases with each other, not with
`make bench`. Drops everything it created.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter

import psycopg

from . import contenders as c
from .__main__ import INTERFERENCE_BACKLOG, INTERFERENCE_CLIENTS, default_dsn
from .data import PREFIX, Cluster, build_backlog_template, build_template
from .report import pct

WAITS = """SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU')
             FROM pg_stat_activity
            WHERE state = 'active' AND pid <> pg_backend_pid()
              AND query LIKE '%%reserve_pyrelease%%'"""


class WaitSampler(threading.Thread):
    """Counts the wait events of the reserving backends, sampled every `interval` s."""

    def __init__(self, dsn: str, interval: float = 0.001) -> None:
        super().__init__(daemon=True)
        self.dsn, self.interval = dsn, interval
        self.seen: Counter[str] = Counter()
        self.halt = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.halt.is_set():
                self.seen.update(event for (event,) in conn.execute(WAITS))
                time.sleep(self.interval)

    def stop(self) -> Counter[str]:
        self.halt.set()
        self.join()
        return self.seen


def main(argv: list[str]) -> int:
    rounds = int(argv[0]) if argv else 3
    cluster = Cluster(default_dsn())
    cluster.drop_leftovers()
    template = build_template(cluster, 1_000_000)
    backlog = build_backlog_template(cluster, template, 1_000_000, INTERFERENCE_BACKLOG)
    cluster.drop_template(template)
    cases = {"idle": "no release", "busy": "one busy core", "release": "during the release"}
    latencies: dict[str, list[float]] = {case: [] for case in cases}
    waits: dict[str, Counter[str]] = {case: Counter() for case in cases}
    try:
        for r in range(rounds):
            for case in cases:
                with cluster.copy(backlog, f"{PREFIX}waits_{case}") as dsn:
                    with psycopg.connect(dsn, autocommit=True) as conn:
                        pool = int(
                            conn.execute("SELECT count(*) FROM bench.candidate").fetchone()[0]
                        )
                    sampler = WaitSampler(dsn)
                    sampler.start()
                    span, clients = (1, pool), INTERFERENCE_CLIENTS
                    if case == "idle":
                        got = c.reserve_latency(dsn, clients, 200, span, 8, False)
                    elif case == "busy":
                        statement = c.busy_core(4.0)
                        got = c.reserve_latency(
                            dsn, clients, 200, span, 10, True, statement=statement
                        )
                    else:
                        got = c.reserve_latency(dsn, clients, 200, span, 14, True)
                    waits[case] += sampler.stop()
                latencies[case] += got.latencies_ms
                print(f"round {r + 1}/{rounds} {cases[case]}: done", file=sys.stderr, flush=True)
    finally:
        cluster.drop_template(backlog)
    for case, text in cases.items():
        lat, seen = latencies[case], waits[case]
        total = sum(seen.values()) or 1
        shares = ", ".join(f"{event} {100 * n / total:.1f}%" for event, n in seen.most_common(6))
        print(
            f"{text}: {len(lat)} reserves, p50 {pct(lat, 50):.2f} ms, p99 {pct(lat, 99):.2f} ms;"
            f" waits: {shares}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
