"""What is measured: the release contenders, server-side probes of the steady-state run,
and the reserve load that pgbench generates.

Every function here works on one database copy that the caller created for it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

SCHEDULED = "scheduled run (CALL run_release_job)"
FUNCTION = "function (release_expired_reservations)"
CRON_UPDATE = "original cron UPDATE"
PER_RESERVATION = "original per-reservation jobs"
BARE = "bare UPDATE (the limit)"
RELEASE_CONTENDERS = (SCHEDULED, FUNCTION, CRON_UPDATE, PER_RESERVATION, BARE)

EXPIRED = "status = 'RESERVED' AND reserved_until <= now()"
RELEASED = "status = 'AVAILABLE', reserved_by_id = NULL, reserved_until = NULL"
COUNTER_TRIGGER = "property_sync_available_plots_update"
STEADY_CALL = "SELECT real_estate.release_expired_reservations()"

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class Release:
    """One release of the backlog (or, for the per-reservation design, of a sample of it)."""

    rows: int
    wall_s: float
    wal_bytes: int
    cpu_s: float | None  # CPU time of the server backend (None: the server is not local)
    held_back: int  # transactions of other sessions open for the whole release (see below)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall_s

    def scaled(self, rows: int) -> Release:
        """Extrapolated to `rows` at the same rows/s, CPU and WAL per row."""
        k = rows / self.rows
        cpu = None if self.cpu_s is None else self.cpu_s * k
        return Release(rows, self.wall_s * k, round(self.wal_bytes * k), cpu, self.held_back)


def backend_cpu_s(pid: int) -> float | None:
    """CPU time used so far by server process `pid` (Linux, server on this machine)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


# Another session's transaction that stays open through a whole release holds back the xmin
# horizon: what the release's earlier batches leave dead cannot be pruned or skipped, so the
# later batches pay for it. Such runs are counted and reported.
HELD_BACK = """SELECT count(*) FROM pg_stat_activity
                WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'
                  AND xact_start < %s AND (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL)"""


def disable_counters(conn: Conn) -> None:
    """The original designs predate the counters: their copy runs without the trigger."""
    conn.execute(f"ALTER TABLE real_estate.property DISABLE TRIGGER {COUNTER_TRIGGER}")


def release(conn: Conn, contender: str, sample: int, call: str | None = None) -> Release:
    """Release the backlog of this copy with `contender`, after a CHECKPOINT (so that every
    contender pays the same full-page writes); wall time on the client, WAL from the LSN.
    `call` replaces the scheduled run's CALL (the batch-size study)."""
    ids: list[tuple[Any]] = []
    if contender in (CRON_UPDATE, PER_RESERVATION):
        disable_counters(conn)
    if contender == PER_RESERVATION:
        ids = conn.execute(
            f"SELECT id FROM real_estate.property WHERE {EXPIRED} ORDER BY reserved_until LIMIT %s",
            (sample,),
        ).fetchall()
    conn.execute("CHECKPOINT")
    lsn, clock = conn.execute("SELECT pg_current_wal_insert_lsn(), clock_timestamp()").fetchone()
    cpu = backend_cpu_s(conn.info.backend_pid)
    started = time.perf_counter()
    if contender == SCHEDULED:
        conn.execute(call or SCHEDULED_CALL)
    elif contender == FUNCTION:
        rows = _one(conn, STEADY_CALL)
    elif contender == CRON_UPDATE:
        cur = conn.execute(
            f"UPDATE real_estate.property SET {RELEASED} WHERE status = 'RESERVED'"
            " AND reserved_until < now() RETURNING id"
        )
        rows = len(cur.fetchall())
    elif contender == PER_RESERVATION:
        rows = _per_reservation(conn, [i for (i,) in ids])
    elif contender == BARE:
        rows = conn.execute(f"UPDATE bench.property_bare SET {RELEASED} WHERE {EXPIRED}").rowcount
    else:
        raise ValueError(contender)
    wall = time.perf_counter() - started
    cpu_end = backend_cpu_s(conn.info.backend_pid)
    wal = _one(conn, "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", lsn)
    held_back = _one(conn, HELD_BACK, clock)
    if contender == SCHEDULED:
        rows = _one(conn, "SELECT released FROM real_estate.release_run ORDER BY id DESC LIMIT 1")
    used = None if cpu is None or cpu_end is None else cpu_end - cpu
    return Release(int(rows), wall, int(wal), used, int(held_back))


def _per_reservation(conn: Conn, ids: list[Any]) -> int:
    """What a delayed job per reservation does: a SELECT, then an UPDATE, each a round trip
    (and, in autocommit, a transaction) of its own."""
    released = 0
    for property_id in ids:
        row = conn.execute(
            f"SELECT {EXPIRED} FROM real_estate.property WHERE id = %s", (property_id,)
        ).fetchone()
        if row and row[0]:
            released += conn.execute(
                f"UPDATE real_estate.property SET {RELEASED} WHERE id = %s AND {EXPIRED}",
                (property_id,),
            ).rowcount
    return released


def _one(conn: Conn, query: str, *params: Any) -> Any:
    row = conn.execute(query, params or None).fetchone()
    assert row is not None
    return row[0]


# ------------------------------------------------------------------ server-side probes


@dataclass(frozen=True)
class Probe:
    """One run of the release function: server-side execution time and buffers touched."""

    ms: float
    buffers: int


def probe(conn: Conn) -> Probe:
    """One call of the release function: EXPLAIN ANALYZE execution time and shared buffers
    hit or read (the function's own queries included)."""
    plan = _one(conn, f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {STEADY_CALL}")
    if isinstance(plan, str):
        plan = json.loads(plan)
    top = plan[0]
    blocks = top["Plan"]["Shared Hit Blocks"] + top["Plan"]["Shared Read Blocks"]
    return Probe(float(top["Execution Time"]), int(blocks))


def server_avg_ms(
    conn: Conn, statement: str, budget_s: float = 1.0, max_calls: int = 2000
) -> float:
    """Average server-side time of `statement` (PERFORM ... or CALL ...) over many calls in
    one DO block (clock_timestamp() around the loop, divided by the count), after warm-up
    calls; the count is chosen so the loop lasts about `budget_s`."""
    one = _do_loop(conn, statement, 1, 1)
    calls = max(3, min(max_calls, int(budget_s * 1000 / max(one, 1e-3))))
    return _do_loop(conn, statement, calls, min(20, calls))


def _do_loop(conn: Conn, statement: str, calls: int, warmup: int) -> float:
    conn.execute(
        f"""DO $bench$
            DECLARE t timestamptz;
            BEGIN
                FOR i IN 1..{warmup} LOOP {statement}; END LOOP;
                t := clock_timestamp();
                FOR i IN 1..{calls} LOOP {statement}; END LOOP;
                PERFORM set_config('bench.ms',
                    (extract(epoch FROM clock_timestamp() - t) * 1000 / {calls})::text, false);
            END
            $bench$"""
    )
    return float(_one(conn, "SELECT current_setting('bench.ms')"))


# ------------------------------------------------------------------ reserve load (pgbench)


def pgbench_path() -> str:
    """$PG_BINDIR/pgbench (the Makefile exports it), else pgbench on PATH."""
    bindir = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))
    found = bindir / "pgbench" if (bindir / "pgbench").exists() else shutil.which("pgbench")
    if not found:
        raise SystemExit("pgbench not found: install postgresql-15 (or set PG_BINDIR)")
    return str(found)


@dataclass(frozen=True)
class Load:
    """One pgbench run of reserve calls."""

    clients: int
    transactions: int
    tps: float
    failed: int  # reserve attempts that found the property already taken (RE003 / 0 rows)
    latencies: list[tuple[float, float]]  # (start, epoch seconds; latency, ms), with --log


class Pgbench:
    """Runs pgbench with a one-line script that reserves candidate n, n random in [lo, hi]:
    `SELECT bench.<function>(id) FROM bench.candidate WHERE n = :k`."""

    def __init__(self, dsn: str, function: str) -> None:
        self.dsn = dsn
        self.dir = Path(tempfile.mkdtemp(prefix="pyrelease-bench-"))
        self.script = self.dir / f"{function}.sql"
        self.script.write_text(
            "\\set k random(:lo, :hi)\n"
            f"SELECT bench.{function}(id) FROM bench.candidate WHERE n = :k;\n"
        )

    def start(
        self, clients: int, seconds: int, span: tuple[int, int], rate: int | None = None
    ) -> subprocess.Popen[str]:
        for old in self.dir.glob("log*"):
            old.unlink()
        command = [pgbench_path(), "-n", "-M", "prepared", "-f", str(self.script)]
        command += ["-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds)]
        command += ["-D", f"lo={span[0]}", "-D", f"hi={span[1]}"]
        if rate is not None:  # latency runs: fixed arrival rate, per-transaction log
            command += ["-R", str(rate), "-l", f"--log-prefix={self.dir / 'log'}"]
        command.append(self.dsn)
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, proc: subprocess.Popen[str], clients: int, failed: int) -> Load:
        out, err = proc.communicate()
        if proc.returncode != 0 or "aborted" in err:
            raise RuntimeError(f"pgbench failed ({proc.returncode}): {err.strip()[-2000:]}")
        done = int(_match(r"number of transactions actually processed: (\d+)", out))
        tps = float(_match(r"tps = ([\d.]+)", out))
        return Load(clients, done, tps, failed, self._latencies())

    def _latencies(self) -> list[tuple[float, float]]:
        # pgbench log line: client_id transaction_no time script_no time_epoch time_us [lag]
        # `time` (us) is measured from the scheduled start when -R is used.
        rows: list[tuple[float, float]] = []
        for path in self.dir.glob("log*"):
            for line in path.read_text().splitlines():
                f = line.split()
                latency_s = int(f[2]) / 1e6
                end = int(f[4]) + int(f[5]) / 1e6
                rows.append((end - latency_s, latency_s * 1000))
        return rows

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _match(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if not found:
        raise RuntimeError(f"unexpected pgbench output (no {pattern!r}):\n{text}")
    return found.group(1)


def reserved_in(conn: Conn, span: tuple[int, int]) -> int:
    """How many candidates in [lo, hi] are RESERVED now (to count failed reserve attempts)."""
    return int(
        _one(
            conn,
            """SELECT count(*) FROM bench.candidate AS c
                 JOIN real_estate.property AS p ON p.id = c.id
                WHERE c.n BETWEEN %s AND %s AND p.status = 'RESERVED'""",
            *span,
        )
    )


def run_load(dsn: str, function: str, clients: int, seconds: int, span: tuple[int, int]) -> Load:
    """A closed-loop throughput run: `clients` reserve as fast as they can for `seconds`;
    the reservations are undone afterwards."""
    bench = Pgbench(dsn, function)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            before = reserved_in(conn, span)
            load = bench.finish(bench.start(clients, seconds, span), clients, 0)
            taken = reserved_in(conn, span) - before
            undo_reservations(conn)
        return Load(clients, load.transactions, load.tps, load.transactions - taken, [])
    finally:
        bench.close()


def undo_reservations(conn: Conn) -> None:
    """Make every candidate AVAILABLE again and VACUUM, so the next run starts from the same
    state (candidates start AVAILABLE: any RESERVED one was reserved by the benchmark)."""
    conn.execute(
        f"""UPDATE real_estate.property AS p SET {RELEASED}
              FROM bench.candidate AS c
             WHERE c.id = p.id AND p.status = 'RESERVED'"""
    )
    conn.execute("VACUUM real_estate.property")


# ------------------------------------------------------------------ interference


@dataclass(frozen=True)
class Interference:
    """Reserve latencies (ms) with or without a concurrent scheduled run."""

    latencies_ms: list[float]
    transactions: int
    failed: int
    release_s: float | None = None  # wall time of the concurrent release
    released: int | None = None
    longest_xact_ms: float | None = None  # longest transaction seen in the release backend
    xacts_seen: int | None = None
    coverage: float = 1.0  # share of the release during which pgbench was still running


class XactSampler(threading.Thread):
    """Samples pg_stat_activity.xact_start of one backend every `interval` seconds from a
    side connection; keeps, per transaction, the longest age seen (a lower bound of its
    duration, within one interval)."""

    def __init__(self, dsn: str, pid: int, interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.dsn, self.pid, self.interval = dsn, pid, interval
        self.ages: dict[datetime, float] = {}
        self.halt = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            query = "SELECT xact_start, clock_timestamp() FROM pg_stat_activity WHERE pid = %s"
            self.ready.set()
            while not self.halt.is_set():
                row = conn.execute(query, (self.pid,)).fetchone()
                if row and row[0] is not None:
                    age = (row[1] - row[0]).total_seconds() * 1000
                    self.ages[row[0]] = max(age, self.ages.get(row[0], 0.0))
                self.halt.wait(self.interval)

    def stop(self) -> tuple[float, int]:
        self.halt.set()
        self.join()
        return max(self.ages.values(), default=0.0), len(self.ages)


SCHEDULED_CALL = "CALL real_estate.run_release_job()"


def scheduled_call(batch: int | None) -> str:
    """The scheduled run's CALL, with its default batch (None) or another one."""
    if batch is None:
        return SCHEDULED_CALL
    return f"CALL real_estate.run_release_job(p_batch_size => {int(batch)})"


def scheduled_release_sampled(
    dsn: str, statement: str = SCHEDULED_CALL
) -> tuple[float, int, float, int]:
    """CALL real_estate.run_release_job() (or `statement`) while sampling its transactions;
    returns (wall s, rows released by the latest run, 0 when there is none, longest
    transaction ms, transactions seen)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        sampler = XactSampler(dsn, conn.info.backend_pid)
        sampler.start()
        sampler.ready.wait()
        started = time.perf_counter()
        conn.execute(statement)
        wall = time.perf_counter() - started
        longest, seen = sampler.stop()
        rows = _one(
            conn,
            "SELECT coalesce((SELECT released FROM real_estate.release_run"
            " ORDER BY id DESC LIMIT 1), 0)",
        )
    return wall, int(rows), longest, seen


def busy_core(seconds: float) -> str:
    """A statement that keeps one core busy for `seconds` and does nothing else: no lock, no
    write, no WAL. Under the reserve load it shows what taking one core away from the
    application costs its latency on this machine, apart from anything the release does."""
    return (
        "DO $busy$ BEGIN WHILE clock_timestamp() < statement_timestamp()"
        f" + interval '{seconds:.3f} s' LOOP END LOOP; END $busy$"
    )


def reserve_latency(
    dsn: str,
    clients: int,
    rate: int,
    span: tuple[int, int],
    seconds: int,
    with_release: bool,
    warmup_s: float = 2.0,
    statement: str = SCHEDULED_CALL,
) -> Interference:
    """`clients` reserve random candidates at `rate` reservations/s for `seconds` (pgbench,
    per-transaction log). Without release: every reserve after `warmup_s` counts. With
    release: after `warmup_s` the scheduled run releases this copy's backlog, and only the
    reserves that start while it runs count."""
    bench = Pgbench(dsn, "reserve_pyrelease")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            before = reserved_in(conn, span)
            proc = bench.start(clients, seconds, span, rate)
            window = (time.time() + warmup_s, float("inf"))
            sampled = None
            if with_release:
                time.sleep(warmup_s)
                window = (time.time(), 0.0)
                sampled = scheduled_release_sampled(dsn, statement)
                window = (window[0], window[0] + sampled[0])
            load = bench.finish(proc, clients, 0)
            taken = reserved_in(conn, span) - before
        inside = [ms for start, ms in load.latencies if window[0] <= start <= window[1]]
        result = Interference(inside, load.transactions, load.transactions - taken)
        if sampled is None:
            return result
        wall, rows, longest, seen = sampled
        last = max((start for start, _ in load.latencies), default=window[0])
        coverage = min(1.0, (last - window[0]) / wall)
        return replace(
            result,
            release_s=wall,
            released=rows,
            longest_xact_ms=longest,
            xacts_seen=seen,
            coverage=coverage,
        )
    finally:
        bench.close()
