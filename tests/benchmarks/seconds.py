"""A release within seconds of expiry: the release job every 10 seconds on pg_cron 1.6, and
what such a schedule costs per day (`make bench` runs it after the main benchmark).

    python -m tests.benchmarks.seconds [--dsn DSN] [--reservations 1000] [--spread 60]
                                       [--idle 40] [--sessions 100] [--out bench-results]

Without --dsn it starts a pg_cron 1.6 cluster of its own in /tmp (scripts/pgcluster.sh with
the build of scripts/setup.sh's pg_cron16 step; fsync, synchronous_commit and full-page writes
on, as in production; shared_buffers 256MB) and removes it at the end; --dsn names a
superuser login to pg_cron's database on a server with pg_cron 1.5 or later (it creates and
drops the database pyrelease_bench_seconds there). Real ticks, on a real clock:

1. Lateness: --reservations reservations expiring evenly over --spread seconds, from 15
   seconds after the job is scheduled every 10 seconds; a reservation's lateness is its
   release event's released_at minus its reserved_until. p50, p99 and max.
2. Ticks with nothing to release (after a VACUUM of what a new cluster, the set-up and the
   release leave to autovacuum), over two
   windows of --idle seconds: the first right after a CHECKPOINT (the first change of a page
   after a checkpoint writes the whole page), the second with none: the cluster's WAL
   (pg_current_wal_insert_lsn), and the rows they add to release_run and to
   cron.job_run_details.
3. A run with nothing to release in a new session, as pg_cron runs each job: the server
   backend's CPU (/proc/PID/schedstat) for the session's start and for the CALL, median of
   --sessions.

Then the cost per day at 10 seconds (8,640 runs; a checkpoint every 5 minutes, the default
checkpoint_timeout), and the bound at every 5 minutes. Writes seconds.md and seconds.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

import pyrelease
from pyrelease import cron as cron_module

from .contenders import backend_cpu_s
from .data import progress

ROOT = Path(__file__).resolve().parents[2]
PG_CRON16_BINDIR = (
    Path(os.environ.get("PG_CRON16_PREFIX", "/opt/pg15-cron16")) / "usr/lib/postgresql/15/bin"
)
DATABASE = "pyrelease_bench_seconds"
EVERY = "10 seconds"
RUNS_PER_DAY = 86_400 // 10
CHECKPOINTS_PER_DAY = 86_400 // 300
LEAD = 15.0  # seconds from scheduling the job to the first expiry
COMMAND = "CALL real_estate.run_release_job()"


@dataclass
class Window:
    seconds: float
    runs: int
    wal_bytes: int
    wal_fpi: int
    release_run_rows: int
    job_run_details_rows: int


@dataclass
class Results:
    command: str
    measured_at: str
    server: str
    pg_cron: str
    reservations: int
    spread_s: float
    released: int
    lateness_s: dict[str, float]
    runs_that_released: int
    after_checkpoint: Window
    steady: Window
    session_start_cpu_ms: float
    noop_call_cpu_ms: float
    noop_call_wall_ms: float
    job_run_details_row_bytes: float
    heartbeat_bytes: int

    def per_day(self) -> dict[str, float]:
        """Per day at 10 seconds: the WAL of the costlier window, as if every 5 minutes
        (a checkpoint) began one after a checkpoint."""
        steady = self.steady.wal_bytes / max(self.steady.runs, 1)
        first = self.after_checkpoint.wal_bytes / max(self.after_checkpoint.runs, 1)
        cycle = 300 / self.steady.seconds  # windows per checkpoint cycle
        per_cycle = self.after_checkpoint.wal_bytes + (cycle - 1) * self.steady.wal_bytes
        return {
            "runs": RUNS_PER_DAY,
            "release_run_rows": RUNS_PER_DAY * self.steady.release_run_rows / self.steady.runs,
            "job_run_details_rows": RUNS_PER_DAY
            * self.steady.job_run_details_rows
            / self.steady.runs,
            "wal_bytes_per_run": steady,
            "wal_bytes_per_run_after_checkpoint": first,
            "wal_mb": CHECKPOINTS_PER_DAY * per_cycle / 1e6,
            "cpu_s": RUNS_PER_DAY * (self.session_start_cpu_ms + self.noop_call_cpu_ms) / 1000,
        }


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


@contextmanager
def own_cluster() -> Iterator[str]:
    """A pg_cron 1.6 cluster in /tmp for this run; yields the DSN of its database postgres."""
    base = Path(tempfile.mkdtemp(prefix="pyrelease-bench-cron16-", dir="/tmp"))
    base.chmod(0o755)
    env = {
        **os.environ,
        "PGRELEASE_PGDATA": str(base / "pgdata"),
        "PG_BINDIR": str(PG_CRON16_BINDIR),
        "PGRELEASE_SHARED_BUFFERS": "256MB",
    }

    def pgcluster(*args: str) -> str:
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "pgcluster.sh"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"pgcluster.sh {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout.strip()

    try:
        pgcluster("start")
        yield pgcluster("dsn")
    finally:
        with_error = sys.exc_info()[0] is not None
        try:
            pgcluster("destroy")
        except SystemExit:
            if not with_error:
                raise
        shutil.rmtree(base, ignore_errors=True)


def lateness(conn: psycopg.Connection[Any], dsn: str, n: int, spread: float) -> dict[str, Any]:
    """Schedule the job every 10 seconds, make n reservations expire over `spread` seconds,
    wait for the ticks to release them all; their lateness."""
    ws = conn.execute(
        "INSERT INTO real_estate.workspace (name, activation_status) VALUES ('bench', 'ACTIVE')"
        " RETURNING id"
    ).fetchone()
    project = conn.execute(
        "INSERT INTO real_estate.project (workspace_id, name) VALUES (%s, 'bench') RETURNING id",
        (ws[0] if ws else None,),
    ).fetchone()
    assert ws is not None and project is not None
    pyrelease.schedule(dsn, cron=EVERY)
    conn.execute(
        "INSERT INTO real_estate.property"
        " (workspace_id, project_id, name, status, reserved_by_id, reserved_until)"
        " SELECT %(ws)s, %(project)s, 'p' || g, 'RESERVED', gen_random_uuid(),"
        "        now() + %(lead)s * interval '1 second'"
        "              + (g - 1) * %(step)s * interval '1 second'"
        "   FROM generate_series(1, %(n)s) AS g",
        {"ws": ws[0], "project": project[0], "lead": LEAD, "step": spread / n, "n": n},
    )
    progress(f"{n:,} reservations expire over {spread:.0f} s from {LEAD:.0f} s on; waiting")
    deadline = time.monotonic() + LEAD + spread + 90
    while time.monotonic() < deadline:
        left = conn.execute(
            "SELECT count(*) FROM real_estate.property WHERE status = 'RESERVED'"
        ).fetchone()
        if left is not None and left[0] == 0:
            break
        time.sleep(1)
    late = [
        float(r[0])
        for r in conn.execute(
            "SELECT extract(epoch FROM e.released_at - e.reserved_until)"
            "  FROM real_estate.release_event AS e WHERE e.reason = 'expired'"
        )
    ]
    runs = conn.execute(
        "SELECT count(*) FROM real_estate.release_run WHERE source = 'pg_cron'"
    ).fetchone()
    if len(late) != n:
        raise SystemExit(f"the ticks released {len(late)} of {n} reservations in time")
    return {
        "released": len(late),
        "lateness_s": {
            "p50": statistics.median(late),
            "p99": percentile(late, 99),
            "max": max(late),
            "min": min(late),
        },
        "runs_that_released": int(runs[0]) if runs else 0,
    }


def window(
    conn: psycopg.Connection[Any], cron: psycopg.Connection[Any], jobid: int, seconds: float
) -> Window:
    """What the ticks write over `seconds` of real time with nothing to release."""

    def snapshot() -> tuple[Any, ...]:
        wal = cron.execute(
            "SELECT pg_current_wal_insert_lsn(), (SELECT wal_fpi FROM pg_stat_wal),"
            " (SELECT count(*) FROM cron.job_run_details WHERE jobid = %s"
            "   AND status IN ('succeeded', 'failed'))",
            (jobid,),
        ).fetchone()
        runs = conn.execute("SELECT count(*) FROM real_estate.release_run").fetchone()
        assert wal is not None and runs is not None
        return (*wal, runs[0])

    before, started = snapshot(), time.monotonic()
    time.sleep(seconds)
    after, elapsed = snapshot(), time.monotonic() - started
    lsn = cron.execute("SELECT %s::pg_lsn - %s::pg_lsn", (after[0], before[0])).fetchone()
    assert lsn is not None
    runs = after[2] - before[2]
    return Window(elapsed, runs, int(lsn[0]), after[1] - before[1], after[3] - before[3], runs)


def new_sessions(dsn: str, sessions: int) -> tuple[float, float, float]:
    """Medians (ms) of a new session's start CPU, and of a no-op run's CPU and wall time."""
    start, call, wall = [], [], []
    for _ in range(sessions):
        with psycopg.connect(dsn, autocommit=True) as s:
            pid = s.info.backend_pid
            before = backend_cpu_s(pid)
            began = time.perf_counter()
            s.execute(COMMAND)
            wall.append((time.perf_counter() - began) * 1000)
            after = backend_cpu_s(pid)
            if before is None or after is None:
                raise SystemExit("the server's backends are not on this machine (/proc)")
            start.append(before * 1000)
            call.append((after - before) * 1000)
    return statistics.median(start), statistics.median(call), statistics.median(wall)


def measure(cron_dsn: str, args: argparse.Namespace, command: str) -> Results:
    with psycopg.connect(cron_dsn, autocommit=True) as cron:
        row = cron.execute(
            "SELECT current_setting('server_version'),"
            " (SELECT extversion FROM pg_extension WHERE extname = 'pg_cron')"
        ).fetchone()
        assert row is not None
        version, pg_cron = str(row[0]), str(row[1])
        if tuple(int(n) for n in pg_cron.split("-")[0].split(".")[:2]) < cron_module.SECONDS_SINCE:
            raise SystemExit(f"pg_cron {pg_cron} schedules no job in seconds (1.5 or later)")
        cron.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        cron.execute(f"CREATE DATABASE {DATABASE}")
        dsn = make_conninfo(cron_dsn, dbname=DATABASE)
        try:
            pyrelease.migrate(dsn, schedule=False)
            with psycopg.connect(dsn, autocommit=True) as conn:
                found = lateness(conn, dsn, args.reservations, args.spread)
                late = found["lateness_s"]
                progress(
                    f"lateness at {EVERY}: p50 {late['p50']:.2f} s, p99 {late['p99']:.2f} s,"
                    f" max {late['max']:.2f} s ({found['runs_that_released']} runs released)"
                )
                job = cron_module.job(conn)
                assert job is not None
                # what a new cluster, the set-up and the release leave for autovacuum
                # (catalogs, statistics) done first: the windows see the ticks and the upkeep
                # of their own tables
                for database in (DATABASE, cron.info.dbname, "template1"):
                    with psycopg.connect(make_conninfo(cron_dsn, dbname=database)) as c:
                        c.autocommit = True
                        c.execute("ANALYZE")
                        c.execute("VACUUM FREEZE")  # (the statistics ANALYZE wrote too)
                cron.execute("CHECKPOINT")
                first = window(conn, cron, job.jobid, args.idle)
                steady = window(conn, cron, job.jobid, args.idle)
                progress(
                    f"ticks with nothing to release: {steady.runs} runs, {steady.wal_bytes:,}"
                    f" bytes of WAL ({first.wal_bytes:,} in the window after a checkpoint),"
                    f" {steady.release_run_rows} release_run rows"
                )
                pyrelease.unschedule(dsn)
                start, call, wall = new_sessions(dsn, args.sessions)
                progress(
                    f"a no-op run in a new session: start {start:.2f} ms CPU, the CALL"
                    f" {call:.2f} ms CPU ({wall:.2f} ms wall)"
                )
                width = cron.execute(
                    "SELECT avg(pg_column_size(d.*)) + 28 FROM cron.job_run_details AS d"
                ).fetchone()
                heartbeat = conn.execute(
                    "SELECT pg_relation_size('real_estate.release_heartbeat')"
                ).fetchone()
        finally:
            cron.execute(
                "SELECT cron.unschedule(jobid) FROM cron.job WHERE database = %s", (DATABASE,)
            )
            cron.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    assert width is not None and heartbeat is not None
    return Results(
        command=command,
        measured_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        server=version,
        pg_cron=pg_cron,
        reservations=args.reservations,
        spread_s=args.spread,
        released=found["released"],
        lateness_s=late,
        runs_that_released=found["runs_that_released"],
        after_checkpoint=first,
        steady=steady,
        session_start_cpu_ms=start,
        noop_call_cpu_ms=call,
        noop_call_wall_ms=wall,
        job_run_details_row_bytes=float(width[0]),
        heartbeat_bytes=int(heartbeat[0]),
    )


def report(res: Results) -> str:
    day = res.per_day()
    late = res.lateness_s
    runs = res.steady.runs
    rows = day["job_run_details_rows"]
    mb = rows * res.job_run_details_row_bytes / 1e6
    table = [
        (
            "rows added to `real_estate.release_run`",
            f"{res.steady.release_run_rows / runs:.0f}",
            f"{day['release_run_rows']:,.0f}",
        ),
        (
            "rows added to `cron.job_run_details`",
            f"{res.steady.job_run_details_rows / runs:.0f}",
            f"{rows:,.0f} (about {mb:,.1f} MB, kept as long as the purge job's retention)",
        ),
        (
            "WAL (the heartbeat, pg_cron's run history, their tables' upkeep)",
            f"{day['wal_bytes_per_run']:,.0f} bytes"
            f" ({day['wal_bytes_per_run_after_checkpoint']:,.0f} after a checkpoint)",
            f"{day['wal_mb']:,.1f} MB ({CHECKPOINTS_PER_DAY} checkpoints)",
        ),
        (
            "server CPU: a new session's start + the CALL",
            f"{res.session_start_cpu_ms:.2f} + {res.noop_call_cpu_ms:.2f} ms",
            f"{day['cpu_s']:,.0f} s",
        ),
    ]
    lines = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in table)
    return f"""# A release within seconds of expiry (pg_cron {res.pg_cron})

Measured {res.measured_at}, PostgreSQL {res.server}, pg_cron {res.pg_cron}:

    {res.command}

## Lateness at `{EVERY}`

{res.reservations:,} reservations expiring evenly over {res.spread_s:.0f} s, released by real
ticks of the job every 10 seconds ({res.runs_that_released} runs released them):

| p50 | p99 | max |
|---|---|---|
| {late["p50"]:.2f} s | {late["p99"]:.2f} s | {late["max"]:.2f} s |

At the default `*/5 * * * *` the bound follows from the schedule: a reservation that expires
just after a run has begun waits for the next one, 5 minutes later, and for that run to reach
it: at most 300 s plus a run's duration (about 150 s on average).

## What `{EVERY}` costs per day

| | per run with nothing to release | per day ({RUNS_PER_DAY:,} runs) |
|---|---|---|
{lines}

The heartbeat stays one row on one page ({res.heartbeat_bytes:,} bytes). Windows: {runs}
runs in {res.steady.seconds:.0f} s without a checkpoint, {res.after_checkpoint.runs} in
{res.after_checkpoint.seconds:.0f} s after one; the CALL takes {res.noop_call_wall_ms:.2f} ms
(wall, median of the sessions).
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.seconds", description=__doc__)
    parser.add_argument("--dsn", help="pg_cron's database on a server with pg_cron 1.5+")
    parser.add_argument("--reservations", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--idle", type=float, default=40.0, help="seconds per window")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args(argv)
    if args.reservations < 1 or args.spread <= 0 or args.idle < 10 or args.sessions < 1:
        parser.error("reservations and sessions >= 1, spread > 0, idle >= 10")
    command = " ".join(["python -m tests.benchmarks.seconds", *(argv or sys.argv[1:])])
    if args.dsn:
        res = measure(args.dsn, args, command)
    elif not (PG_CRON16_BINDIR / "postgres").exists():
        progress(f"skipped: no pg_cron 1.6 build in {PG_CRON16_BINDIR} (make setup builds it)")
        return 0
    else:
        with own_cluster() as dsn:
            res = measure(dsn, args, command)
    args.out.mkdir(parents=True, exist_ok=True)
    text = report(res)
    (args.out / "seconds.md").write_text(text)
    (args.out / "seconds.json").write_text(
        json.dumps({**asdict(res), "per_day": res.per_day()}, indent=2) + "\n"
    )
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
