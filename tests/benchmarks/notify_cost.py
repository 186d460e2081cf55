"""What the release NOTIFY costs: the benchmark's 50k release (N = 1M) with and without it.

    python -m tests.benchmarks.notify_cost [--dsn DSN] [--sizes 1000000] [--rounds 5]

Builds (or reuses) the benchmark's template (tests/benchmarks/data.py: N properties, 5%
expired), then per round releases the backlog of a fresh copy with the scheduled run (CALL
run_release_job: a transaction, so a NOTIFY, per batch of 100) and with the function
(release_expired_reservations: one transaction), each once with the notification trigger
enabled and once with it disabled (ALTER TABLE ... DISABLE TRIGGER release_event_notify:
no transition table, no arming row, no NOTIFY), in alternating order. Prints the medians
of wall time and server CPU and the difference.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence

import psycopg

from . import contenders as c
from .__main__ import default_dsn
from .data import PREFIX, Cluster, build_template, expired_count, label, progress

TRIGGER = "release_event_notify"
CONTENDERS = (c.SCHEDULED, c.FUNCTION)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.notify_cost")
    parser.add_argument("--dsn", default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    cluster = Cluster(args.dsn or default_dsn())
    for n in args.sizes:
        template = build_template(cluster, n)
        results: dict[tuple[str, bool], list[c.Release]] = {}
        for r in range(args.rounds):
            for contender in CONTENDERS:
                order = (True, False) if r % 2 == 0 else (False, True)
                for notify in order:
                    name = f"{PREFIX}notify_{label(n)}_{r}_{int(notify)}".lower()
                    with (
                        cluster.copy(template, name) as dsn,
                        psycopg.connect(dsn, autocommit=True) as conn,
                    ):
                        if not notify:
                            conn.execute(
                                f"ALTER TABLE real_estate.release_event DISABLE TRIGGER {TRIGGER}"
                            )
                        conn.execute("LISTEN real_estate_release")
                        got = c.release(conn, contender, 0)
                        notes = sum(1 for _ in conn.notifies(timeout=0.5))
                        if got.rows != expired_count(n):
                            raise RuntimeError(f"released {got.rows}, expected {expired_count(n)}")
                        results.setdefault((contender, notify), []).append(got)
                        state = "on" if notify else "off"
                        progress(
                            f"N={label(n)} round {r + 1} {contender} notify={state}:"
                            f" {got.wall_s:.3f} s, CPU {got.cpu_s or 0:.3f} s,"
                            f" {notes} notification(s)"
                        )
        print(
            f"\nN = {label(n)}, {expired_count(n):,} expired, {args.rounds} rounds (median, range):"
        )
        for contender in CONTENDERS:
            on, off = results[(contender, True)], results[(contender, False)]
            for what, key in (("wall", "wall_s"), ("server CPU", "cpu_s")):
                a = [getattr(x, key) or 0.0 for x in on]
                b = [getattr(x, key) or 0.0 for x in off]
                ma, mb = statistics.median(a), statistics.median(b)
                print(
                    f"  {contender}, {what}: with NOTIFY {ma:.3f} s ({min(a):.3f}-{max(a):.3f}),"
                    f" without {mb:.3f} s ({min(b):.3f}-{max(b):.3f}): {100 * (ma - mb) / mb:+.1f}%"
                )
        cluster.drop_template(template)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
