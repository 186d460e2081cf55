"""Soak driver: python -m tests.soak.run --dsn DSN [--clients 8] [--seconds 60] ...

1. Creates a scratch database on the server of --dsn (``scratch_soak_<hex>``; or, with
   --existing-db, uses the database of --dsn as it is), migrates it with pyrelease, creates
   the bench-only ``soak`` schema (tests/soak/schema.sql: wrappers that turn the package's
   refusals RE001..RE004 into statuses and record any other error instead of aborting the
   pgbench client) and seeds workspaces x projects x properties.
2. Schedules the release job EVERY MINUTE with pg_cron (pyrelease.cron.schedule).
3. Runs pgbench with the weighted scripts of tests/soak/scripts/ (reserve, checkout, sell,
   cancel, move, relist, bulk relist, insert, delete, release_expired_reservations(50),
   release_reservation(id)) for --seconds with --clients clients. The release callers
   pause in the last --caller-pause seconds of every minute, so that pg_cron's tick at :00
   finds a backlog and races with them for it as they resume.
4. Waits (at most --cron-wait s) for a successful pg_cron run if none happened yet,
   unschedules the job and waits for a running one to end, then checks:
   real_estate.check_invariants() returns nothing, the run log matches the events, no run
   is left unfinished or recorded a failure, nothing of a non-ACTIVE workspace was
   released, no unexpected error happened, and a final drain leaves no backlog.
5. Prints a summary and writes it as markdown (--report, default bench-results/soak.md).

DSN: --dsn, else $PYRELEASE_SOAK_DSN, else `scripts/pgcluster.sh dsn` (the `make db`
cluster). The server needs pg_cron (unless --min-cron-runs 0) and pgbench on this machine.

Exit status: 0 when every check holds and pg_cron ran the job successfully at least
--min-cron-runs times (default 1); 1 otherwise; 2 for bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import pyrelease
from pyrelease import cron

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCRIPTS_DIR = HERE / "scripts"
SCHEMA_SQL = HERE / "schema.sql"
DEFAULT_REPORT = REPO / "bench-results" / "soak.md"
PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))

# pgbench script (tests/soak/scripts/NAME.sql) -> weight (percent of transactions).
WEIGHTS: dict[str, int] = {
    "reserve": 30,
    "checkout": 4,
    "sell": 10,
    "cancel": 6,
    "move": 6,
    "relist": 6,
    "bulk_relist": 1,
    "insert": 4,
    "delete": 1,
    "release_expired": 8,
    "release_oldest": 16,
    "release_one": 8,
}

Conn = psycopg.Connection[Any]


def log(message: str) -> None:
    print(f"soak: {message}", file=sys.stderr, flush=True)


@dataclass
class ScriptStats:
    name: str
    weight: int
    transactions: int
    tps: float
    failed: int
    latency_ms: float | None


@dataclass
class Result:
    database: str
    clients: int
    seconds: int
    dataset: str = ""
    properties: int = 0
    pgbench_exit: int | None = None
    pgbench_transactions: int = 0
    pgbench_tps: float = 0.0
    pgbench_errors: list[str] = field(default_factory=list)
    scripts: list[ScriptStats] = field(default_factory=list)
    outcomes: list[tuple[str, str, int, int | None]] = field(default_factory=list)
    errors: list[tuple[str, str, int, str]] = field(default_factory=list)
    releases: dict[str, dict[str, int]] = field(default_factory=dict)
    cron_available: bool = False
    cron_job: str | None = None
    cron_runs: dict[str, int] = field(default_factory=dict)
    cron_failures: list[str] = field(default_factory=list)
    violations: list[tuple[str, str, str]] = field(default_factory=list)
    drained: int = 0
    backlog_after_drain: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def cron_succeeded(self) -> int:
        return self.cron_runs.get("succeeded", 0)


# --------------------------------------------------------------------------- database set-up


def connect(dsn: str) -> Conn:
    return psycopg.connect(dsn, autocommit=True)


def with_db(dsn: str, dbname: str) -> str:
    return make_conninfo(dsn, dbname=dbname)


def create_database(admin_dsn: str, name: str) -> None:
    with connect(admin_dsn) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin_dsn: str, name: str) -> None:
    with connect(admin_dsn) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def prepare(dsn: str, workspaces: int, projects: int, properties: int) -> int:
    """Migrate, create the soak schema, seed; return the number of properties."""
    pyrelease.migrate(dsn)
    with connect(dsn) as conn:
        conn.execute(SCHEMA_SQL.read_text())
        row = conn.execute(
            "SELECT soak.seed(%s, %s, %s)", (workspaces, projects, properties)
        ).fetchone()
        conn.execute("ANALYZE")
    assert row is not None
    return int(row[0])


# --------------------------------------------------------------------------- pgbench


def find_pgbench(explicit: str | None) -> str:
    candidates = [explicit] if explicit else [str(PG_BINDIR / "pgbench"), "pgbench"]
    for candidate in candidates:
        if candidate and (Path(candidate).is_file() or shutil.which(candidate)):
            return candidate if Path(candidate).is_file() else str(shutil.which(candidate))
    raise SystemExit(f"soak: error: pgbench not found (tried {', '.join(map(str, candidates))})")


def run_pgbench(
    pgbench: str,
    dsn: str,
    clients: int,
    threads: int,
    seconds: int,
    nprops: int,
    caller_pause: int,
) -> subprocess.CompletedProcess[str]:
    args = [
        pgbench,
        "--no-vacuum",
        f"--client={clients}",
        f"--jobs={threads}",
        f"--time={seconds}",
        f"--define=nprops={nprops}",
        "--progress=10",
    ]
    for name, weight in WEIGHTS.items():
        args.append(f"--file={SCRIPTS_DIR / f'{name}.sql'}@{weight}")
    options = conninfo_to_dict(dsn).get("options") or ""
    options = f"{options} -c soak.caller_pause={caller_pause}".strip()
    args.append(make_conninfo(dsn, application_name="pyrelease-soak", options=options))
    log(f"pgbench: {clients} clients, {threads} threads, {seconds} s, {len(WEIGHTS)} scripts")
    return subprocess.run(args, capture_output=True, text=True, timeout=seconds + 120)


def parse_pgbench(out: str) -> tuple[int, float, list[ScriptStats]]:
    total = re.search(r"number of transactions actually processed: (\d+)", out)
    tps = re.search(r"^tps = ([\d.]+)", out, re.MULTILINE)
    scripts = []
    blocks = re.split(r"^(?=SQL script \d+: )", out, flags=re.MULTILINE)[1:]
    for block in blocks:
        path = re.match(r"SQL script \d+: (\S+)", block)
        weight = re.search(r"- weight: (\d+)", block)
        tx = re.search(r"- (\d+) transactions \([^,]*, tps = ([\d.]+)\)", block)
        failed = re.search(r"- number of failed transactions: (\d+)", block)
        latency = re.search(r"- latency average = ([\d.]+) ms", block)
        assert path and weight and tx, block
        scripts.append(
            ScriptStats(
                name=Path(path.group(1)).stem,
                weight=int(weight.group(1)),
                transactions=int(tx.group(1)),
                tps=float(tx.group(2)),
                failed=int(failed.group(1)) if failed else 0,
                latency_ms=float(latency.group(1)) if latency else None,
            )
        )
    return (int(total.group(1)) if total else 0, float(tps.group(1)) if tps else 0.0, scripts)


# --------------------------------------------------------------------------- pg_cron


def cron_runs(conn: Conn, job: cron.Job, since: datetime) -> list[cron.JobRun]:
    return [
        r for r in cron.job_runs(conn, job, limit=10_000) if r.start_time and r.start_time >= since
    ]


def wait_for_cron(conn: Conn, job: cron.Job, since: datetime, wanted: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [r for r in cron_runs(conn, job, since) if r.status == "succeeded"]
        if len(done) >= wanted:
            return
        time.sleep(1)


def wait_cron_idle(conn: Conn, job: cron.Job, since: datetime, timeout: float = 180) -> bool:
    """Wait until no run of the job is starting or running (it was just unscheduled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [r for r in cron_runs(conn, job, since) if r.status in ("starting", "running")]
        active = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND query ILIKE '%run_release_job%'"
            " AND state <> 'idle'"
        ).fetchone()
        if not busy and active is not None and active[0] == 0:
            return True
        time.sleep(0.5)
    return False


# --------------------------------------------------------------------------- checks


EXTRA_CHECKS: dict[str, str] = {
    # The run log counts what it released: released = number of events of the run.
    "run_log_mismatch": """
        SELECT r.id::text, format('run %s (%s) says released = %s, has %s event(s)',
                                  r.id, r.source, r.released, count(e.id))
          FROM real_estate.release_run AS r
          LEFT JOIN real_estate.release_event AS e ON e.run_id = r.id
         GROUP BY r.id
        HAVING r.released <> count(e.id)""",
    # Nothing killed any run here: every run must have finished.
    "unfinished_run": """
        SELECT r.id::text,
               format('run %s (%s) started %s never finished', r.id, r.source, r.started_at)
          FROM real_estate.release_run AS r
         WHERE r.finished_at IS NULL""",
    # No host trigger refuses anything here: a recorded failure is unexpected.
    "release_failure": """
        SELECT r.id::text, format('run %s (%s): %s failed: %s', r.id, r.source, r.failed, r.error)
          FROM real_estate.release_run AS r
         WHERE r.failed > 0""",
    # The soak's INACTIVE/SUSPENDED workspaces never change status: never released.
    "inactive_released": """
        SELECT e.id::text, format('property %s of a %s workspace released', e.property_id,
                                  w.activation_status)
          FROM real_estate.release_event AS e
          JOIN real_estate.workspace AS w ON w.id = e.workspace_id
         WHERE w.activation_status <> 'ACTIVE'""",
}


def violations(conn: Conn) -> list[tuple[str, str, str]]:
    found = [tuple(r) for r in conn.execute("SELECT * FROM real_estate.check_invariants()")]
    for name, query in EXTRA_CHECKS.items():
        found += [(name, r[0], r[1]) for r in conn.execute(query)]
    return found  # type: ignore[return-value]


def collect(conn: Conn, result: Result) -> None:
    result.outcomes = [
        (r[0], r[1], int(r[2]), None if r[3] is None else int(r[3]))
        for r in conn.execute(
            "SELECT kind, status, count(*), sum(n) FROM soak.outcome GROUP BY 1, 2 ORDER BY 1, 2"
        )
    ]
    result.errors = [
        (r[0], r[1], int(r[2]), r[3])
        for r in conn.execute(
            "SELECT kind, sqlstate, count(*), min(message) FROM soak.error"
            " GROUP BY 1, 2 ORDER BY 1, 2"
        )
    ]
    for source, runs, releasing, released, failed, events in conn.execute(
        """
        SELECT r.source, count(*), count(*) FILTER (WHERE r.released > 0),
               coalesce(sum(r.released), 0), coalesce(sum(r.failed), 0),
               coalesce(sum((SELECT count(*) FROM real_estate.release_event AS e
                              WHERE e.run_id = r.id)), 0)
          FROM real_estate.release_run AS r
         GROUP BY r.source ORDER BY r.source
        """
    ):
        result.releases[source] = {
            "runs": int(runs),
            "runs_that_released": int(releasing),
            "released": int(released),
            "failed": int(failed),
            "events": int(events),
        }


# --------------------------------------------------------------------------- report


def markdown(result: Result, args: argparse.Namespace) -> str:
    scheduled = f"job {result.cron_job!r} at {args.cron!r}" if result.cron_job else "not used"
    lines = [
        "# pyrelease soak",
        "",
        f"- database: `{result.database}`"
        f" (dropped afterwards: {not args.keep and not args.existing_db})",
        f"- load: pgbench, {result.clients} clients x {result.seconds} s; data: {result.dataset}",
        f"- pg_cron: {scheduled}",
        f"- release callers pause in the last {args.caller_pause} s of every minute"
        " (so that the scheduled run finds a backlog)",
        f"- verdict: **{'PASS' if result.ok else 'FAIL'}**",
        "",
        "## Operations (pgbench, per script)",
        "",
        f"pgbench exit status {result.pgbench_exit}; {result.pgbench_transactions} transactions,"
        f" {result.pgbench_tps:.1f} tps.",
        "",
        "| script | weight | transactions | tps | failed | latency avg (ms) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in result.scripts:
        latency = f"{s.latency_ms:.2f}" if s.latency_ms is not None else "-"
        lines.append(
            f"| {s.name} | {s.weight} | {s.transactions} | {s.tps:.1f} | {s.failed} | {latency} |"
        )
    lines += ["", "## Outcomes (per wrapper call)", "", "| kind | status | calls | rows |"]
    lines.append("| --- | --- | ---: | ---: |")
    for kind, status, calls, rows in result.outcomes:
        lines.append(f"| {kind} | {status} | {calls} | {'' if rows is None else rows} |")
    lines += ["", "## Releases by source (release_run / release_event)", ""]
    lines.append("| source | runs | runs that released | released | failed | events |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for source, r in result.releases.items():
        lines.append(
            f"| {source} | {r['runs']} | {r['runs_that_released']} | {r['released']}"
            f" | {r['failed']} | {r['events']} |"
        )
    by_call = {
        kind: sum(r or 0 for k, st, _, r in result.outcomes if k == kind)
        for kind in ("release_expired",)
    }
    singles = sum(
        c
        for k, st, c, _ in result.outcomes
        if k in ("release_one", "release_oldest") and st == "released"
    )
    calls = result.releases.get("call", {}).get("released", 0)
    lines.append("")
    lines.append(
        f"Of the `call` releases: {by_call['release_expired']} by"
        f" release_expired_reservations(50), {singles} by release_reservation(id),"
        f" {calls - by_call['release_expired'] - singles} by reserve_property taking over an"
        " expired reservation."
    )
    lines.append("")
    lines.append(
        "`pg_cron` rows are the scheduled CALL real_estate.run_release_job(); `call` rows are"
        " release_expired_reservations(50), release_reservation(id) and the take-overs of"
        f" reserve_property. Final drain (after the checks): {result.drained} released,"
        f" backlog left {result.backlog_after_drain}."
    )
    lines += ["", "## pg_cron runs of the job during the soak", ""]
    if result.cron_runs:
        lines += [f"- {status}: {n}" for status, n in sorted(result.cron_runs.items())]
    else:
        lines.append("- none")
    lines += [f"- failed: {m}" for m in result.cron_failures]
    lines += ["", "## Unexpected errors (caught by the soak wrappers)", ""]
    if result.errors:
        lines.append("| kind | SQLSTATE | count | first message |")
        lines.append("| --- | --- | ---: | --- |")
        for kind, state, n, message in result.errors:
            lines.append(f"| {kind} | {state} | {n} | {message.splitlines()[0][:160]} |")
    else:
        lines.append("none")
    lines += ["", f"## Violations: {len(result.violations)}", ""]
    lines += [f"- {v[0]} {v[1]}: {v[2]}" for v in result.violations[:50]]
    if result.pgbench_errors:
        lines += ["", "## pgbench errors", ""]
        lines += [f"    {e}" for e in result.pgbench_errors[:30]]
    lines += ["", "## Problems", ""]
    lines += [f"- {p}" for p in result.problems] or ["none"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def default_dsn() -> str:
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "pgcluster.sh"), "dsn"],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(
            "soak: error: no --dsn and `scripts/pgcluster.sh dsn` failed"
            f" ({done.stderr.strip()}); start it with `make db`"
        )
    return done.stdout.strip()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tests.soak.run", description=__doc__.splitlines()[0]
    )
    p.add_argument(
        "--dsn",
        help="server to soak (a login that may CREATE DATABASE; default: $PYRELEASE_SOAK_DSN,"
        " else `scripts/pgcluster.sh dsn`, the `make db` cluster)",
    )
    p.add_argument("--clients", type=int, default=8)
    p.add_argument(
        "--threads", type=int, default=None, help="pgbench threads (default: min(clients, CPUs))"
    )
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument(
        "--workspaces", type=int, default=20, help="the last two are INACTIVE and SUSPENDED"
    )
    p.add_argument("--projects", type=int, default=5, help="per workspace")
    p.add_argument("--properties", type=int, default=200, help="per project")
    p.add_argument("--cron", default="* * * * *", help="the job's schedule during the soak")
    p.add_argument(
        "--caller-pause",
        type=int,
        default=20,
        metavar="SECONDS",
        help="release callers pause in the last SECONDS of every minute, so that pg_cron's"
        " tick finds a backlog (0: never pause; default: %(default)s)",
    )
    p.add_argument(
        "--min-cron-runs",
        type=int,
        default=1,
        help="successful pg_cron runs required (0: pg_cron optional)",
    )
    p.add_argument(
        "--cron-wait",
        type=float,
        default=90.0,
        help="after pgbench, wait this long at most for the required pg_cron runs",
    )
    p.add_argument(
        "--existing-db",
        action="store_true",
        help="soak the database of --dsn itself (not dropped) instead of a new scratch_soak_* one",
    )
    p.add_argument("--db-prefix", default="scratch_soak_")
    p.add_argument("--keep", action="store_true", help="do not drop the scratch database")
    p.add_argument(
        "--pgbench", default=None, help="pgbench binary (default: $PG_BINDIR/pgbench, else PATH)"
    )
    p.add_argument(
        "--report",
        type=Path,
        default=DEFAULT_REPORT,
        help="markdown summary (default: %(default)s)",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the result as JSON")
    args = p.parse_args(argv)
    args.dsn = args.dsn or os.environ.get("PYRELEASE_SOAK_DSN") or default_dsn()
    if args.clients < 1 or args.seconds < 1 or args.min_cron_runs < 0:
        p.error("--clients and --seconds must be positive, --min-cron-runs not negative")
    if not 0 <= args.caller_pause <= 60:
        p.error("--caller-pause must be between 0 and 60")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pgbench = find_pgbench(args.pgbench)
    base = make_conninfo(
        args.dsn, connect_timeout=conninfo_to_dict(args.dsn).get("connect_timeout", 10)
    )
    if args.existing_db:
        dsn, created = base, None
        with connect(dsn) as c:
            name = str(c.execute("SELECT current_database()").fetchone()[0])  # type: ignore[index]
    else:
        name = created = f"{args.db_prefix}{uuid.uuid4().hex[:8]}"
        create_database(base, name)
        dsn = with_db(base, name)
        log(f"created database {name}")
    result = Result(database=name, clients=args.clients, seconds=args.seconds)
    try:
        soak(args, pgbench, dsn, result)
    finally:
        # Never leave a job behind (soak() unschedules it too, unless it failed midway).
        with connect(dsn) as conn, contextlib.suppress(pyrelease.PyreleaseError):
            cron.unschedule(conn)
        if created and not args.keep:
            drop_database(base, created)
            log(f"dropped database {created}")
    report = markdown(result, args)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = asdict(result) | {"ok": result.ok, "cron_succeeded": result.cron_succeeded}
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    print(report)
    log(f"summary written to {args.report}")
    return 0 if result.ok else 1


def soak(args: argparse.Namespace, pgbench: str, dsn: str, result: Result) -> None:
    result.properties = prepare(dsn, args.workspaces, args.projects, args.properties)
    result.dataset = (
        f"{args.workspaces} workspaces (2 not ACTIVE) x {args.projects} projects x"
        f" {args.properties} properties = {result.properties}"
    )
    log(f"seeded {result.dataset}")
    job: cron.Job | None = None
    with connect(dsn) as conn:
        since = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        try:
            job = cron.schedule(conn, cron=args.cron)
        except pyrelease.ScheduleError as exc:
            if args.min_cron_runs > 0:
                result.problems.append(f"pg_cron unavailable: {exc}")
                return
            log(f"pg_cron unavailable, soaking without it: {exc}")
        else:
            result.cron_available = True
            result.cron_job = job.name
            log(f"scheduled {job.name!r} at {job.schedule!r} (pg_cron in {job.cron_database!r})")

    threads = args.threads or max(1, min(args.clients, os.cpu_count() or 1))
    nprops = int(result.properties * 1.1) + 1
    done = run_pgbench(pgbench, dsn, args.clients, threads, args.seconds, nprops, args.caller_pause)
    result.pgbench_exit = done.returncode
    total, tps, scripts = parse_pgbench(done.stdout)
    result.pgbench_transactions, result.pgbench_tps, result.scripts = total, tps, scripts
    result.pgbench_errors = [
        line for line in done.stderr.splitlines() if "error" in line.lower() or "abort" in line
    ]
    if done.returncode != 0:
        result.problems.append(f"pgbench exited with status {done.returncode}")
    if total == 0:
        result.problems.append("pgbench processed no transaction")
    log(f"pgbench done: {total} transactions, {tps:.1f} tps, exit {done.returncode}")

    with connect(dsn) as conn:
        if job is not None:
            wanted = args.min_cron_runs
            if len([r for r in cron_runs(conn, job, since) if r.status == "succeeded"]) < wanted:
                log(f"waiting up to {args.cron_wait:.0f} s for a successful pg_cron run")
                wait_for_cron(conn, job, since, wanted, args.cron_wait)
            cron.unschedule(conn)
            if not wait_cron_idle(conn, job, since):
                result.problems.append("a pg_cron run was still running 180 s after the soak")
            runs = cron_runs(conn, job, since)
            for r in runs:
                result.cron_runs[r.status] = result.cron_runs.get(r.status, 0) + 1
            result.cron_failures = [
                f"{r.start_time}: {r.return_message}" for r in runs if r.status == "failed"
            ]
        collect(conn, result)
        result.violations = violations(conn)
        # Reservations keep expiring after the load stops: the drain and the backlog it
        # leaves are measured in one transaction, at one now().
        with conn.transaction():
            drained = conn.execute(
                "SELECT real_estate.release_expired_reservations(1000)"
            ).fetchone()
            backlog = conn.execute(
                "SELECT expired_reservations FROM real_estate.release_backlog"
            ).fetchone()
        result.drained = int(drained[0]) if drained else 0
        result.backlog_after_drain = int(backlog[0]) if backlog else 0
        after = [v for v in violations(conn) if v not in result.violations]
        result.violations += after

    if result.violations:
        result.problems.append(f"{len(result.violations)} violation(s)")
    if result.errors:
        n = sum(e[2] for e in result.errors)
        states = ", ".join(sorted({e[1] for e in result.errors}))
        result.problems.append(f"{n} unexpected error(s) in the wrappers (SQLSTATE {states})")
    if result.backlog_after_drain:
        result.problems.append(
            f"{result.backlog_after_drain} expired reservation(s) left after the drain"
        )
    if result.cron_succeeded < args.min_cron_runs:
        result.problems.append(
            f"pg_cron ran the job successfully {result.cron_succeeded} time(s),"
            f" {args.min_cron_runs} required"
        )
    if result.cron_failures:
        result.problems.append(f"{len(result.cron_failures)} pg_cron run(s) failed")


if __name__ == "__main__":
    sys.exit(main())
