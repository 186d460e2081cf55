"""`python -m tests.benchmarks.profile`: where a release's cost goes, in measures the machine's
load does not change: WAL by record type (pg_waldump --stats), buffers and WAL per statement
(pg_stat_statements, nested statements included), and the server CPU of each release.

    python -m tests.benchmarks.profile [--n 1000000] [--contenders bare,function,scheduled]
                                       [--rounds 1] [--top 12] [--keep-template]

Builds the benchmark's template for N (or reuses one left by --keep-template, after migrating
it to this checkout's routines), releases its backlog on fresh copies, one per contender and
round (contenders rotating), and prints per contender: rows, wall time, server CPU and WAL
(median of the rounds, and the ratio to the bare UPDATE); then, from the first round, the WAL
record types that weigh most (needs a server on this machine, whose pg_wal pg_waldump reads,
with wal_keep_size large enough to keep a release's WAL) and the statements that touched the
most buffers (needs pg_stat_statements in shared_preload_libraries and
pg_stat_statements.track = all). `make profile` runs it on the `make db` cluster with both.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

import pyrelease

from . import contenders as c
from .__main__ import default_dsn, rotate
from .data import PREFIX, Cluster, build_template, label

CONTENDERS = {"scheduled": c.SCHEDULED, "function": c.FUNCTION, "bare": c.BARE}
STATEMENTS = """
SELECT s.calls, s.rows, s.shared_blks_hit + s.shared_blks_read, s.shared_blks_read,
       s.shared_blks_dirtied, s.wal_records, s.wal_fpi, s.wal_bytes, s.total_exec_time,
       regexp_replace(left(s.query, 400), '\\s+', ' ', 'g')
  FROM pg_stat_statements AS s
 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND s.query NOT LIKE 'EXPLAIN%%' AND s.query NOT LIKE '%%pg_stat_statements%%'
 ORDER BY s.shared_blks_hit + s.shared_blks_read DESC
 LIMIT %s
"""
WALDUMP_LINE = re.compile(
    r"^(\S+)\s+(\d+)\s+\(\s*[\d.]+\)\s+(\d+)\s+\(\s*[\d.]+\)\s+(\d+)\s+\(\s*[\d.]+\)"
)


def waldump(datadir: str, start: str, end: str) -> list[tuple[str, int, int, int]]:
    """(record type, count, record bytes, full-page image bytes) between two LSNs."""
    bindir = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))
    command = [str(bindir / "pg_waldump"), "--stats=record", "-p", f"{datadir}/pg_wal"]
    done = subprocess.run(
        [*command, "-s", start, "-e", end], capture_output=True, text=True, check=False
    )
    rows = []
    for line in done.stdout.splitlines():
        m = WALDUMP_LINE.match(line)
        if m and m.group(1) != "Total":
            rows.append((m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))))
    if not rows:
        print(f"pg_waldump: {done.stderr.strip()[-300:]}", file=sys.stderr)
    return rows


def one(conn: c.Conn, query: str) -> Any:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def release(
    cluster: Cluster, template: str, key: str, r: int, top: int
) -> tuple[c.Release, list[str]]:
    """One release of the backlog by contender `key` on a fresh copy; with `top`, also the
    lines of its WAL and statement profiles."""
    lines: list[str] = []
    with (
        cluster.copy(template, f"{PREFIX}profile_{key}_r{r}") as dsn,
        psycopg.connect(dsn, autocommit=True) as conn,
    ):
        pgss = top > 0 and bool(
            one(conn, "SELECT count(*) FROM pg_settings WHERE name = 'pg_stat_statements.track'")
        )
        if pgss:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
        start = one(conn, "SELECT pg_current_wal_insert_lsn()::text")
        got = c.release(conn, CONTENDERS[key], 10**9)  # (after its own CHECKPOINT)
        if not top:
            return got, lines
        end = one(conn, "SELECT pg_current_wal_insert_lsn()::text")
        per = got.rows or 1
        lines.append(f"{'WAL record type':<26}{'count':>11}{'/row':>7}{'rec MB':>9}{'FPI MB':>9}")
        wal = waldump(one(conn, "SHOW data_directory"), start, end)
        for name, n, rec, fpi in sorted(wal, key=lambda w: -(w[2] + w[3]))[:12]:
            lines.append(f"{name:<26}{n:>11,}{n / per:>7.2f}{rec / 1e6:>9.1f}{fpi / 1e6:>9.1f}")
        if pgss:
            lines.append(
                f"{'calls':>7}{'rows':>9}{'blocks':>10}{'read':>8}{'dirtied':>8}"
                f"{'WAL rec':>9}{'FPI':>7}{'WAL MB':>8}{'ms':>7}  statement"
            )
            for calls, rows, blocks, read, dirtied, wrec, fpi, wbytes, ms, query in conn.execute(
                STATEMENTS, (top,)
            ).fetchall():
                lines.append(
                    f"{calls:>7,}{rows:>9,}{blocks:>10,}{read:>8,}{dirtied:>8,}{wrec:>9,}"
                    f"{fpi:>7,}{float(wbytes) / 1e6:>8.1f}{ms:>7.0f}  {query[:140]}"
                )
    return got, lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.profile", description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--contenders", default="bare,function,scheduled")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--top", type=int, default=12, help="statements listed (0: no profile)")
    parser.add_argument("--dsn", help="server to use (default: as make bench)")
    parser.add_argument("--keep-template", action="store_true")
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.contenders.split(",") if k.strip()]
    if not keys or any(k not in CONTENDERS for k in keys):
        parser.error(f"contenders: some of {', '.join(CONTENDERS)}")
    cluster = Cluster(args.dsn or default_dsn())
    template = f"{PREFIX}tmpl_{label(args.n)}".lower()
    with cluster.connect() as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,))
        exists = found.fetchone() is not None
    if exists:
        pyrelease.migrate(cluster.dsn_for(template))  # this checkout's routines
        pyrelease.unschedule(cluster.dsn_for(template))
        cluster.checkpoint()
    else:
        template = build_template(cluster, args.n)
    runs: dict[str, list[c.Release]] = {k: [] for k in keys}
    try:
        for r in range(args.rounds):
            for key in rotate(keys, r):
                got, lines = release(cluster, template, key, r, args.top if r == 0 else 0)
                runs[key].append(got)
                print(
                    f"round {r + 1} {key}: {got.rows:,} rows, wall {got.wall_s:.2f} s, server CPU"
                    f" {got.cpu_s or 0:.2f} s, WAL {got.wal_bytes / 1e6:,.1f} MB",
                    file=sys.stderr,
                    flush=True,
                )
                if lines:
                    print(f"\n== {CONTENDERS[key]}, N = {label(args.n)}", *lines, sep="\n")
    finally:
        if not args.keep_template:
            cluster.drop_template(template)

    def med(key: str, attr: str) -> float:
        return statistics.median(float(getattr(x, attr) or 0) for x in runs[key])

    base = "bare" if "bare" in runs else keys[0]
    print(f"\nN = {label(args.n)}, median of {args.rounds} round(s), ratio to {base}:")
    for key in keys:
        per = max(runs[key][0].rows, 1)
        wall, cpu, wal = med(key, "wall_s"), med(key, "cpu_s"), med(key, "wal_bytes")
        print(
            f"{key:<10} wall {wall:7.2f} s ({wall / med(base, 'wall_s'):.2f}x)"
            f"  CPU {cpu:7.2f} s ({cpu / med(base, 'cpu_s'):.2f}x, {1e6 * cpu / per:.1f} us/row)"
            f"  WAL {wal / 1e6:9,.1f} MB ({wal / med(base, 'wal_bytes'):.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
