"""`python -m tests.benchmarks`: pyrelease's benchmark (what `make bench` runs).

    python -m tests.benchmarks [--sizes 100000,1000000] [--with-10m] [--rounds N] [--dsn DSN]
                               [--batch-study 100,250,500,1000]

Creates its own databases (pyrelease_bench_*) on the server, drops them at the end, and
writes results.md, results.json, bench.png and README-performance.md to bench-results/.
DSN: --dsn, else $PYRELEASE_BENCH_DSN, else `scripts/pgcluster.sh dsn` (the cluster that
`make test` uses; start it with `scripts/pgcluster.sh start`).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg

from . import contenders as c
from . import report
from .data import (
    PREFIX,
    Cluster,
    build_backlog_template,
    build_template,
    expired_count,
    label,
    progress,
    reserved_index,
)

ROOT = Path(__file__).resolve().parents[2]
INTERFERENCE_BACKLOG = 100_000
INTERFERENCE_CLIENTS = 8
THROUGHPUT_CLIENTS = (1, 4, 8)
THROUGHPUT = {  # contender -> (database copy, bench.sql function)
    "reserve_property": ("counters", "reserve_pyrelease"),
    "plain UPDATE + counter trigger": ("counters", "reserve_plain"),
    "plain UPDATE, no counters": ("plain", "reserve_plain"),
}


def default_dsn() -> str:
    if os.environ.get("PYRELEASE_BENCH_DSN"):
        return os.environ["PYRELEASE_BENCH_DSN"]
    done = subprocess.run(
        [str(ROOT / "scripts" / "pgcluster.sh"), "dsn"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"scripts/pgcluster.sh dsn failed: {done.stderr.strip()}")
    return done.stdout.strip()


def rotate(items: Sequence[str], r: int) -> list[str]:
    """Round r starts with the r-th contender: each one takes every position in turn."""
    k = r % len(items)
    return [*items[k:], *items[:k]]


def slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())[:20]


def release_section(cluster: Cluster, template: str, n: int, res: report.Results) -> None:
    """Sections 1-3: release the backlog with each contender on its own copy; then, on the
    copies the scheduled run and the function released, probe the runs that follow."""
    e = expired_count(n)
    for r in range(res.rounds):
        for contender in rotate(c.RELEASE_CONTENDERS, r):
            name = f"{PREFIX}{label(n)}_r{r}_{slug(contender)}".lower()
            with cluster.copy(template, name) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
                got = c.release(conn, contender, res.sample)
                expected = min(e, res.sample) if contender == c.PER_RESERVATION else e
                if got.rows != expected:
                    raise RuntimeError(f"{contender} released {got.rows} rows, expected {expected}")
                res.add_release(n, contender, got)
                progress(
                    f"N={label(n)} round {r + 1}/{res.rounds} {contender}: {got.rows:,} rows"
                    f" in {got.wall_s:.2f} s ({got.rows_per_s:,.0f} rows/s),"
                    f" WAL {got.wal_bytes / 1e6:.1f} MB"
                )
                if contender in (c.SCHEDULED, c.FUNCTION):
                    after_release(conn, dsn, n, contender, res)


def after_release(conn: c.Conn, dsn: str, n: int, contender: str, res: report.Results) -> None:
    """The runs that follow a big release: the first two in a new session (as pg_cron opens
    one per run), then the average of many more (nothing changes between them until VACUUM);
    the same after VACUUM. On the scheduled run's copy, also the scheduled run itself with
    nothing to do, and the release query without the partial index."""
    by = "scheduled run" if contender == c.SCHEDULED else "function"
    call = "PERFORM real_estate.release_expired_reservations()"
    for when in ("before", "after"):
        if when == "after":
            conn.execute("VACUUM real_estate.property")
        with psycopg.connect(dsn, autocommit=True) as session:
            res.add_probe(n, f"{by}|{when} VACUUM|run 1", c.probe(session))
            res.add_probe(n, f"{by}|{when} VACUUM|run 2", c.probe(session))
            res.add_steady(n, f"{by}|{when} VACUUM", c.server_avg_ms(session, call))
    if contender != c.SCHEDULED:
        return
    res.add_steady(
        n,
        report.STEADY_SCHEDULED,
        c.server_avg_ms(conn, "CALL real_estate.run_release_job()", 0.5, 50),
    )
    conn.execute(f"DROP INDEX {reserved_index(conn)}")
    res.add_steady(n, report.STEADY_NO_INDEX, c.server_avg_ms(conn, call, 2.0))
    steady, probes = res.steady[n], res.probes[n]
    progress(
        f"N={label(n)} after the release: run 1 {probes[by + '|before VACUUM|run 1'][-1].ms:.2f}"
        f" ms, next runs {steady[by + '|before VACUUM'][-1]:.3f} ms; steady state (after"
        f" VACUUM) {steady[report.STEADY_FUNCTION][-1]:.3f} ms, without the partial index"
        f" {steady[report.STEADY_NO_INDEX][-1]:.1f} ms"
    )


def interference_section(cluster: Cluster, template: str, res: report.Results) -> None:
    """Section 4: reserve latency of 8 clients with no release running vs while the
    scheduled run releases the backlog; longest transaction of the release, alone and under
    that load. Each round: copy A (idle load, then the release alone), copy B (the release
    under load); A and B alternate."""
    rows_per_s = 0.0
    for r in range(res.rounds):
        for kind in ("alone", "under load") if r % 2 == 0 else ("under load", "alone"):
            name = f"{PREFIX}interference_r{r}_{slug(kind)}"
            with cluster.copy(template, name) as dsn:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    pool = int(conn.execute("SELECT count(*) FROM bench.candidate").fetchone()[0])
                span = (1, pool)
                if kind == "alone":
                    idle = c.reserve_latency(
                        dsn, INTERFERENCE_CLIENTS, res.rate, span, res.idle_seconds, False
                    )
                    res.interference["idle"].append(idle)
                    wall, rows, longest, seen = c.scheduled_release_sampled(dsn)
                    res.interference["alone"].append(
                        c.Interference([], 0, 0, wall, rows, longest, seen)
                    )
                    rows_per_s = rows / wall
                    # The same load while one core is busy for as long as the release took.
                    busy = c.reserve_latency(
                        dsn,
                        INTERFERENCE_CLIENTS,
                        res.rate,
                        span,
                        math.ceil(2 + 1.5 * wall + 3),
                        True,
                        statement=c.busy_core(wall),
                    )
                    res.interference["busy core"].append(busy)
                    progress(
                        f"interference round {r + 1}/{res.rounds}: idle p99"
                        f" {report.pct(idle.latencies_ms, 99):.2f} ms; one busy core"
                        f" {report.pct(busy.latencies_ms, 99):.2f} ms; release alone"
                        f" {wall:.1f} s, longest transaction {longest:.0f} ms"
                    )
                else:
                    backlog_rows = res.backlog
                    estimate = backlog_rows / rows_per_s if rows_per_s else backlog_rows / 5000
                    seconds = math.ceil(2 + 2.5 * estimate + 5)
                    under = c.reserve_latency(
                        dsn, INTERFERENCE_CLIENTS, res.rate, span, seconds, True
                    )
                    res.interference["release"].append(under)
                    if under.coverage < 1:
                        progress(f"pgbench ended at {under.coverage:.0%} of the release")
                    progress(
                        f"interference round {r + 1}/{res.rounds}: during the release"
                        f" ({under.release_s:.1f} s) p99 {report.pct(under.latencies_ms, 99):.2f}"
                        f" ms, longest transaction {under.longest_xact_ms:.0f} ms"
                    )


def batch_study_section(
    cluster: Cluster, template: str, backlog: str, n: int, res: report.Results
) -> None:
    """Section 6: the scheduled run's batch size. For each size in --batch-study: the
    release of this N's backlog (its wall time against the bare UPDATE measured in section
    1), and the reserve latency and longest transaction while it releases the interference
    backlog under the same load as section 4. The default batch is chosen from this table."""
    for r in range(res.rounds):
        for batch in rotate([str(b) for b in res.batch_sizes], r):
            size = int(batch)
            call = c.scheduled_call(size)
            with (
                cluster.copy(template, f"{PREFIX}batch_{size}_r{r}") as dsn,
                psycopg.connect(dsn, autocommit=True) as conn,
            ):
                got = c.release(conn, c.SCHEDULED, res.sample, call)
            res.batch_study.setdefault(size, {}).setdefault("release", []).append(got)
            with cluster.copy(backlog, f"{PREFIX}batch_{size}_r{r}_load") as dsn:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    pool = int(conn.execute("SELECT count(*) FROM bench.candidate").fetchone()[0])
                estimate = res.backlog / max(got.rows_per_s, 1.0)
                seconds = math.ceil(2 + 2.5 * estimate + 5)
                under = c.reserve_latency(
                    dsn, INTERFERENCE_CLIENTS, res.rate, (1, pool), seconds, True, statement=call
                )
            res.batch_study[size].setdefault("under", []).append(under)
            progress(
                f"batch study round {r + 1}/{res.rounds}, batch {size}: release"
                f" {got.wall_s:.2f} s; under load p99 {report.pct(under.latencies_ms, 99):.2f} ms,"
                f" longest transaction {under.longest_xact_ms:.0f} ms"
            )


def throughput_section(cluster: Cluster, template: str, res: report.Results) -> None:
    """Section 5: reserves/s with 1, 4 and 8 clients, reserve_property vs plain UPDATEs;
    one copy with the counter trigger, one without (the original design)."""
    with (
        cluster.copy(template, f"{PREFIX}throughput_counters") as counters,
        cluster.copy(template, f"{PREFIX}throughput_plain") as plain,
    ):
        with psycopg.connect(plain, autocommit=True) as conn:
            c.disable_counters(conn)
            pool = int(conn.execute("SELECT count(*) FROM bench.candidate").fetchone()[0])
        dsns = {"counters": counters, "plain": plain}
        for r in range(res.rounds):
            for clients in THROUGHPUT_CLIENTS:
                for contender in rotate(list(THROUGHPUT), r):
                    copy, function = THROUGHPUT[contender]
                    load = c.run_load(
                        dsns[copy], function, clients, res.throughput_seconds, (1, pool)
                    )
                    res.throughput.setdefault(contender, {}).setdefault(clients, []).append(load)
                    progress(
                        f"throughput round {r + 1}/{res.rounds} {contender}, {clients} clients:"
                        f" {load.tps:,.0f} reserves/s ({load.failed} failed)"
                    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__)
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        help="comma-separated numbers of properties (default: %(default)s)",
    )
    parser.add_argument("--with-10m", action="store_true", help="also run N = 10,000,000")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measurement (default 3)")
    parser.add_argument("--dsn", help="server to use (a database on it; default: see above)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results", help="output folder")
    parser.add_argument(
        "--sample",
        type=int,
        default=5000,
        help="rows the per-reservation design releases before its rate is extrapolated",
    )
    parser.add_argument(
        "--rate", type=int, default=200, help="reserves/s offered in the latency runs"
    )
    parser.add_argument(
        "--batch-study",
        default="100,250,500,1000",
        help="batch sizes of the scheduled run to compare (empty: skip; default %(default)s)",
    )
    args = parser.parse_args(argv)
    args.sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    if args.with_10m:
        args.sizes = sorted({*args.sizes, 10_000_000})
    args.batch_study = sorted({int(b) for b in args.batch_study.split(",") if b.strip()})
    if not args.sizes or min(args.sizes) < 1000 or args.rounds < 1:
        parser.error("sizes must be >= 1000 and rounds >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cluster = Cluster(args.dsn or default_dsn())
    try:
        with cluster.connect() as conn:
            version = str(conn.execute("SHOW server_version").fetchone()[0])
    except psycopg.OperationalError as exc:
        hint = "start the cluster: scripts/pgcluster.sh start"
        raise SystemExit(f"cannot connect to {cluster.dsn}: {exc}\n({hint})") from exc
    c.pgbench_path()
    # Sections 4-5 need a 100k backlog (all reservations of 1M properties expired): they run
    # on the smallest N >= 1M, else on the largest N with all its reservations expired.
    big = [n for n in args.sizes if n >= 1_000_000]
    load_n = big[0] if big else args.sizes[-1]
    res = report.Results(
        sizes=args.sizes,
        rounds=args.rounds,
        sample=args.sample,
        rate=args.rate,
        load_n=load_n,
        backlog=min(INTERFERENCE_BACKLOG, load_n // 10),
        command=" ".join(["python -m tests.benchmarks", *(sys.argv[1:] if argv is None else argv)]),
        machine=report.machine(cluster, version),
        batch_sizes=args.batch_study,
    )
    started = time.monotonic()
    cluster.drop_leftovers()
    try:
        for n in args.sizes:
            template = build_template(cluster, n)
            release_section(cluster, template, n, res)
            if n == load_n:
                backlog = build_backlog_template(cluster, template, n, res.backlog)
                interference_section(cluster, backlog, res)
                if res.batch_sizes:
                    batch_study_section(cluster, template, backlog, n, res)
                cluster.drop_template(template)
                throughput_section(cluster, backlog, res)
                cluster.drop_template(backlog)
            else:
                cluster.drop_template(template)
    finally:
        cluster.drop_leftovers()
    res.runtime_s = time.monotonic() - started
    res.machine["load"] += f"; at the end: {report.loadavg()}"
    paths = report.write(res, args.out)
    progress(f"done in {res.runtime_s / 60:.1f} min: " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
