"""Results: what was measured, the targets, and the files written to bench-results/."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import contenders as c
from .contenders import Interference, Load, Probe, Release
from .data import expired_count, label

if TYPE_CHECKING:
    from .data import Cluster

# Keys of Results.steady (server-side ms per run, averaged over many calls in one session).
STEADY_FUNCTION = "scheduled run|after VACUUM"  # the steady state: release_expired_reservations()
STEADY_SCHEDULED = "CALL run_release_job()"
STEADY_NO_INDEX = "without the partial index"
STEADY_LABELS = {
    STEADY_FUNCTION: "pyrelease: release_expired_reservations()",
    "scheduled run|before VACUUM": "pyrelease right after a big release (no VACUUM yet)",
    STEADY_NO_INDEX: "the same query without the partial index",
    STEADY_SCHEDULED: "CALL run_release_job() (records a run: 3 commits)",
}
BY_CONTENDER = {"scheduled run": c.SCHEDULED, "function": c.FUNCTION}


@dataclass
class Results:
    sizes: list[int]
    rounds: int
    sample: int
    rate: int
    load_n: int
    backlog: int
    command: str
    machine: dict[str, str]
    clients: int = 8
    idle_seconds: int = 10
    throughput_seconds: int = 5
    runtime_s: float = 0.0
    release: dict[int, dict[str, list[Release]]] = field(default_factory=dict)
    probes: dict[int, dict[str, list[Probe]]] = field(default_factory=dict)
    steady: dict[int, dict[str, list[float]]] = field(default_factory=dict)
    interference: dict[str, list[Interference]] = field(
        default_factory=lambda: {"idle": [], "busy core": [], "release": [], "alone": []}
    )
    throughput: dict[str, dict[int, list[Load]]] = field(default_factory=dict)
    batch_sizes: list[int] = field(default_factory=list)
    # batch size -> {"release": [Release], "under": [Interference]}
    batch_study: dict[int, dict[str, list]] = field(default_factory=dict)  # type: ignore[type-arg]

    def add_release(self, n: int, contender: str, got: Release) -> None:
        self.release.setdefault(n, {}).setdefault(contender, []).append(got)

    def add_probe(self, n: int, phase: str, got: Probe) -> None:
        self.probes.setdefault(n, {}).setdefault(phase, []).append(got)

    def add_steady(self, n: int, variant: str, ms: float) -> None:
        self.steady.setdefault(n, {}).setdefault(variant, []).append(ms)

    def full_release(self, n: int, contender: str) -> list[Release]:
        """Per round, the release of the whole backlog (the per-reservation sample scaled)."""
        e = expired_count(n)
        return [r if r.rows == e else r.scaled(e) for r in self.release[n][contender]]


# ------------------------------------------------------------------ statistics


def pct(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank); nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    """'median (min-max)' over the rounds."""
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(med(values))} ({fmt(min(values))}-{fmt(max(values))})"


def secs(v: float) -> str:
    return f"{v:.3g} s" if v < 100 else f"{v:,.0f} s"


def ms(v: float) -> str:
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:,.0f}"


def mb(v: float) -> str:
    return f"{v / 1e6:,.1f} MB"


def count(v: float) -> str:
    return f"{v:,.0f}"


# ------------------------------------------------------------------ tables


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def release_table(res: Results, n: int) -> str:
    e = expired_count(n)
    limit = res.full_release(n, c.BARE)
    limit_s, limit_wal = med([r.wall_s for r in limit]), med([r.wal_bytes for r in limit])
    limit_cpu = med([r.cpu_s or 0.0 for r in limit])
    rows = []
    for contender in c.RELEASE_CONTENDERS:
        runs = res.full_release(n, contender)
        name = contender
        if contender == c.PER_RESERVATION and res.sample < e:
            name += f" (*{min(res.sample, e):,}-row sample, extrapolated*)"
        cpu = [r.cpu_s for r in runs if r.cpu_s is not None]
        rows.append(
            [
                name,
                spread([r.wall_s for r in runs], secs),
                spread([r.rows_per_s for r in runs], count),
                spread([r.wal_bytes for r in runs], mb),
                spread(cpu, secs) if cpu else "-",
                f"**{med([r.wall_s for r in runs]) / limit_s:.2f}x**",
                f"{med(cpu) / limit_cpu:.2f}x" if cpu and limit_cpu else "-",
                f"{med([r.wal_bytes for r in runs]) / limit_wal:.2f}x",
            ]
        )
    header = ["contender", "wall time", "rows/s", "WAL", "server CPU"]
    header += ["time / limit", "CPU / limit", "WAL / limit"]
    return table(header, rows)


def held_back_note(res: Results) -> str:
    runs = [r for per in res.release.values() for rr in per.values() for r in rr]
    held = sum(1 for r in runs if r.held_back)
    if not held:
        return "No other session kept a transaction open through any of these releases."
    return (
        f"**{held} of {len(runs)} releases ran while another session (other databases"
        " included) kept a transaction open throughout**: the xmin horizon could not advance,"
        " so the rows that a batch left dead could not be pruned or skipped by the next"
        " batches; those runs are slower than on a quiet server."
    )


def steady_table(res: Results) -> str:
    rows = []
    for n in res.sizes:
        s = res.steady.get(n, {})
        rows.append(
            [
                label(n),
                spread(s.get(STEADY_FUNCTION, []), ms),
                _probe_cell(res, n, "scheduled run|after VACUUM|run 1"),
                spread(s.get(STEADY_SCHEDULED, []), ms),
                spread(s.get(STEADY_NO_INDEX, []), ms),
            ]
        )
    header = [
        "N",
        "pyrelease (ms/run)",
        "pyrelease, 1st call in a new session (ms / buffers)",
        "CALL run_release_job() (ms/run)",
        "same query without the partial index (ms/run)",
    ]
    return table(header, rows)


def _probe_cell(res: Results, n: int, key: str) -> str:
    got = res.probes.get(n, {}).get(key, [])
    return f"{spread([x.ms for x in got], ms)} / {spread([x.buffers for x in got], count)}"


def after_release_table(res: Results) -> str:
    rows = []
    for n in res.sizes:
        for by in ("scheduled run", "function"):
            held = sum(r.held_back > 0 for r in res.release.get(n, {}).get(BY_CONTENDER[by], []))
            mark = f" (held back in {held} round(s))" if held else ""
            cells = [label(n), f"{expired_count(n):,} by the {by}{mark}"]
            for when in ("before", "after"):
                key = f"{by}|{when} VACUUM"
                cells.append(_probe_cell(res, n, key + "|run 1"))
                cells.append(_probe_cell(res, n, key + "|run 2"))
                cells.append(spread(res.steady.get(n, {}).get(key, []), ms))
            rows.append(cells)
    header = ["N", "release of"]
    for when in ("no VACUUM yet", "after VACUUM"):
        header += [f"{when}: run 1", "run 2", "next runs (ms/run)"]
    return table(header, rows)


INTERFERENCE_KINDS = (
    ("idle", "no release running"),
    ("busy core", "one core busy for as long (no lock, no write)"),
    ("release", "during the release"),
)


def interference_table(res: Results) -> str:
    rows = []
    for kind, text in INTERFERENCE_KINDS:
        runs = res.interference[kind]
        if not runs:
            continue
        rows.append(
            [
                text,
                spread([len(r.latencies_ms) for r in runs], count),
                spread([r.failed for r in runs], count),
                spread([pct(r.latencies_ms, 50) for r in runs], ms),
                spread([pct(r.latencies_ms, 99) for r in runs], ms),
                spread([max(r.latencies_ms, default=float("nan")) for r in runs], ms),
            ]
        )
    header = ["reserve calls", "measured", "failed (taken)", "p50 ms", "p99 ms", "max ms"]
    return table(header, rows)


def release_txn_table(res: Results) -> str:
    rows = []
    under = f"under {res.clients} reserving clients"
    for kind, text in (("alone", "alone"), ("release", under)):
        runs = res.interference[kind]
        rows.append(
            [
                text,
                spread([r.release_s or 0 for r in runs], secs),
                spread([r.xacts_seen or 0 for r in runs], count),
                spread([r.longest_xact_ms or 0 for r in runs], ms),
            ]
        )
    header = ["scheduled run", "wall time", "transactions seen", "longest transaction (ms)"]
    return table(header, rows)


def throughput_table(res: Results) -> str:
    clients = sorted({k for per in res.throughput.values() for k in per})
    base = res.throughput.get("plain UPDATE, no counters", {})
    rows = []
    for contender, per in res.throughput.items():
        cells = [contender]
        for k in clients:
            tps = [x.tps for x in per.get(k, [])]
            ratio = med(tps) / med([x.tps for x in base.get(k, [])]) if base.get(k) else 1.0
            cells.append(f"{spread(tps, count)} ({ratio:.2f}x)")
        failed = sum(x.failed for runs in per.values() for x in runs)
        done = sum(x.transactions for runs in per.values() for x in runs)
        cells.append(f"{failed:,} / {done:,}")
        rows.append(cells)
    header = ["reserves/s", *[f"{k} client{'s' if k > 1 else ''}" for k in clients], "failed"]
    return table(header, rows)


# ------------------------------------------------------------------ targets


@dataclass(frozen=True)
class Target:
    text: str
    figure: str
    met: bool | None  # None: not measured in this run


DEFAULT_BATCH = 250  # run_release_job's default p_batch_size (plpgsql/run_release_job.sql)


def targets(res: Results) -> list[Target]:
    """The targets of the last round, each against figures measured side by side in this run."""
    n = 1_000_000 if 1_000_000 in res.sizes else res.sizes[-1]
    at = f" (N = {label(n)})"
    out: list[Target] = []

    def wall(contender: str) -> float:
        return med([r.wall_s for r in res.full_release(n, contender)])

    def cpu(contender: str) -> float:
        return med([r.cpu_s or float("nan") for r in res.full_release(n, contender)])

    fn_ratio = wall(c.FUNCTION) / wall(c.BARE)
    out.append(
        Target(
            "release_expired_reservations() <= 1.5x the bare UPDATE" + at,
            f"{fn_ratio:.2f}x (server CPU {cpu(c.FUNCTION) / cpu(c.BARE):.2f}x)",
            fn_ratio <= 1.5,
        )
    )
    ratio = wall(c.SCHEDULED) / wall(c.BARE)
    out.append(
        Target(
            "the scheduled run (CALL run_release_job(), its default batch) <= 1.75x the bare"
            " UPDATE" + at,
            f"{ratio:.2f}x (server CPU {cpu(c.SCHEDULED) / cpu(c.BARE):.2f}x)",
            ratio <= 1.75,
        )
    )
    idle = med([pct(r.latencies_ms, 99) for r in res.interference["idle"]])
    busy = med([pct(r.latencies_ms, 99) for r in res.interference["release"]])
    core = res.interference["busy core"]
    floor = med([pct(r.latencies_ms, 99) for r in core])

    def pooled(kind: str) -> float:
        """The p99 of every round's reserves together (a steadier estimate than a median of
        per-round p99s of a few hundred calls each)."""
        return pct([x for r in res.interference[kind] for x in r.latencies_ms], 99)

    out.append(
        Target(
            f"p99 reserve latency during a {res.backlog:,} release by the scheduled run <= 2x"
            " its idle p99",
            f"{busy:.2f} ms vs {idle:.2f} ms idle ({busy / idle:.1f}x)"
            + (f"; one busy core alone: {floor:.2f} ms ({floor / idle:.1f}x)" if core else "")
            + (
                f"; all rounds pooled: {pooled('release') / pooled('idle'):.1f}x"
                + (f", one busy core {pooled('busy core') / pooled('idle'):.1f}x" if core else "")
                if res.rounds > 1
                else ""
            ),
            busy <= 2 * idle,
        )
    )
    loaded = max([r.longest_xact_ms or 0 for r in res.interference["release"]], default=0)
    alone = max([r.longest_xact_ms or 0 for r in res.interference["alone"]], default=0)
    out.append(
        Target(
            "no transaction of the scheduled run longer than 50 ms under load",
            f"longest {loaded:.0f} ms under reserve load ({alone:.0f} ms alone)",
            loaded <= 50,
        )
    )
    speedup = wall(c.PER_RESERVATION) / wall(c.SCHEDULED)
    fn_speedup = wall(c.PER_RESERVATION) / wall(c.FUNCTION)
    out.append(
        Target(
            ">= 30x faster than the per-reservation design" + at,
            f"scheduled run {speedup:.0f}x, function {fn_speedup:.0f}x (per-reservation rate"
            f" from a {min(res.sample, expired_count(n)):,}-row sample)",
            min(speedup, fn_speedup) >= 30,
        )
    )
    probes, steady_n = res.probes.get(n, {}), res.steady.get(n, {})
    bys = ("scheduled run", "function")
    for by in bys:
        first = med([p.ms for p in probes.get(f"{by}|before VACUUM|run 1", [])])
        out.append(
            Target(
                f"first run after a big release by the {by} <= 5 ms" + at,
                f"{first:.2f} ms (new session)",
                first <= 5,
            )
        )
    next_runs = []
    met_next = True
    for by in bys:
        before = med(steady_n.get(f"{by}|before VACUUM", []))
        after = med(steady_n.get(f"{by}|after VACUUM", []))
        next_runs.append(f"after the {by}: {before:.3f} ms vs {after:.3f} ms after VACUUM")
        met_next = met_next and before <= 2 * after
    out.append(
        Target(
            "the runs after it back to the steady-state figure within 2x, without VACUUM" + at,
            "; ".join(next_runs),
            met_next,
        )
    )
    steady = {k: med(v.get(STEADY_FUNCTION, [])) for k, v in res.steady.items()}
    if n in steady:
        others = ", ".join(f"{label(k)}: {v:.3f} ms" for k, v in sorted(steady.items()) if k != n)
        out.append(
            Target(
                "steady-state run <= 0.05 ms server-side" + at,
                f"{steady[n]:.3f} ms" + (f" ({others})" if others else ""),
                steady[n] <= 0.05,
            )
        )
    if 10_000_000 in steady and n in steady:
        r10 = steady[10_000_000] / steady[n]
        out.append(
            Target(
                f"steady-state run flat to 10M (<= 2x the figure at {label(n)})",
                f"{steady[10_000_000]:.3f} ms ({r10:.2f}x)",
                r10 <= 2,
            )
        )
    else:
        out.append(
            Target(
                "steady-state run flat to 10M (<= 2x the 1M figure)", "run with --with-10m", None
            )
        )
    return out


def batch_study_table(res: Results) -> str:
    n = res.load_n
    bare = med([r.wall_s for r in res.full_release(n, c.BARE)]) if n in res.release else 0.0
    idle = med([pct(r.latencies_ms, 99) for r in res.interference["idle"]])
    rows = []
    for size in sorted(res.batch_study):
        got = res.batch_study[size]
        walls = [r.wall_s for r in got.get("release", [])]
        under = got.get("under", [])
        p99 = med([pct(r.latencies_ms, 99) for r in under])
        mark = " (default)" if size == DEFAULT_BATCH else ""
        rows.append(
            [
                f"{size}{mark}",
                spread(walls, secs),
                f"**{med(walls) / bare:.2f}x**" if bare else "-",
                f"{spread([pct(r.latencies_ms, 99) for r in under], ms)} ({p99 / idle:.1f}x idle)",
                spread([r.longest_xact_ms or 0 for r in under], ms),
            ]
        )
    header = ["batch", "release wall time", "x bare UPDATE", "reserve p99 under release"]
    header += ["longest transaction under load (ms)"]
    return table(header, rows)


def loadavg() -> str:
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load average unknown"


def targets_table(res: Results) -> str:
    rows = []
    for t in targets(res):
        verdict = "not measured" if t.met is None else "**met**" if t.met else "**MISSED**"
        rows.append([t.text, t.figure, verdict])
    return table(["target", "measured (median of rounds)", ""], rows)


# ------------------------------------------------------------------ files


def machine(cluster: Cluster, version: str) -> dict[str, str]:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split()[1])
        ram = f"{kb / 1024**2:.0f} GB RAM"
    settings = (
        "shared_buffers",
        "max_wal_size",
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "work_mem",
    )
    with cluster.connect() as conn:
        values = dict(
            conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
                (list(settings),),
            ).fetchall()
        )
    os_name = platform.freedesktop_os_release().get("PRETTY_NAME", platform.platform())
    return {
        "machine": f"{os_name}, {cpu}, {os.cpu_count()} cores, {ram}",
        "postgres": f"PostgreSQL {version} ("
        + ", ".join(f"{k}={values.get(k, '?')}" for k in settings)
        + ")",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": f"at the start: {loadavg()}",
    }


def markdown(res: Results) -> str:
    parts = [
        "# pyrelease benchmark",
        "",
        f"{res.machine['machine']}; {res.machine['postgres']}; {res.machine['date']};"
        f" machine {res.machine.get('load', '')}.",
        f"Command: `{res.command}`; {res.rounds} round(s) per figure, contenders alternating;"
        " cells show median (min-max) over the rounds."
        f" Total runtime {res.runtime_s / 60:.1f} min.",
        "",
        "Data: 100 workspaces x 10 projects; N properties, 10% reserved, half of those expired"
        " (E = 5% of N), md5 ids, random projects and expiries (setseed). Every contender runs on"
        " its own copy of the same template database (CREATE DATABASE ... TEMPLATE), after a"
        " CHECKPOINT.",
        "",
        "## Targets",
        "",
        targets_table(res),
    ]
    for n in res.sizes:
        if n not in res.release:
            continue
        parts += [
            "",
            f"## Releasing the backlog, N = {label(n)} (E = {expired_count(n):,} expired)",
            "",
            release_table(res, n),
        ]
    parts += [
        "",
        "Wall time on the client; server CPU = CPU time of the server process that ran the"
        " release (/proc/PID/schedstat: robust to other load on the machine); WAL ="
        " pg_current_wal_insert_lsn() difference (cluster-wide). " + held_back_note(res),
        "The original designs run without the counter trigger (they predate it). The limit is"
        " one UPDATE of the same rows of `bench.property_bare` (LIKE real_estate.property"
        " INCLUDING ALL: same columns, indexes and checks; no triggers).",
        "The per-reservation design: a SELECT then an UPDATE per row, each a round trip and a"
        " transaction of its own (what one delayed job per reservation does, minus the job"
        f" queue); where E > {res.sample:,} it releases only the {res.sample:,} oldest rows and"
        " its time, CPU and WAL are extrapolated to E at the same rate.",
        "",
        "## Steady-state run (nothing expired)",
        "",
        steady_table(res),
        "",
        "ms/run: server-side average of many calls in one session (clock_timestamp() around a"
        " loop of calls in a DO block / count), after VACUUM. 1st call in a new session (as"
        " pg_cron opens one per run): EXPLAIN ANALYZE execution time, and the shared buffers"
        " hit or read, which include loading the catalogs and compiling the functions."
        " CALL run_release_job() always records a run (3 commits), even with nothing to do.",
        "",
        "## The runs right after a big release (before VACUUM), and after VACUUM",
        "",
        after_release_table(res),
        "",
        "run 1, run 2: the first two calls of release_expired_reservations() in a new session"
        " (EXPLAIN ANALYZE execution time in ms / shared buffers hit or read); next runs: the"
        " average of many more calls in that session (nothing changes between them until"
        " VACUUM removes the dead index entries that the release left). Held back: another"
        " session kept a transaction open through the release, so its dead rows could not be"
        " recognised as dead (index entries not killed, heap not pruned) until it ended.",
        "",
        f"## Interference: {res.clients} clients reserve while the scheduled run releases"
        f" {res.backlog:,} (N = {label(res.load_n)})",
        "",
        interference_table(res),
        "",
        release_txn_table(res),
        "",
        *(
            [
                f"pgbench stopped before the release ended in {short} round(s); the latencies"
                " cover the part of the release it saw.",
                "",
            ]
            if (short := sum(r.coverage < 1 for r in res.interference["release"]))
            else []
        ),
        f"pgbench, {res.clients} clients, fixed arrival rate {res.rate} reserves/s (latency"
        " counted from the scheduled start), `bench.reserve_pyrelease(id)` ="
        " real_estate.reserve_property() of a random AVAILABLE property, RE003 caught and"
        " counted. During the release only the reserves that started while it ran count."
        " One busy core: the same load while a server backend spins on the CPU for as long as"
        " the release takes alone (`DO` loop on clock_timestamp(): no lock, no write, no WAL),"
        " the share of the machine any release takes from the application."
        " Longest transaction: pg_stat_activity.xact_start of the release backend sampled"
        " every 5 ms.",
        "",
        *(
            [
                f"## The scheduled run's batch size (N = {label(res.load_n)})",
                "",
                batch_study_table(res),
                "",
                "Release wall time: CALL run_release_job(p_batch_size => b) on a copy of the"
                " section 1 template, against the bare UPDATE of section 1. Reserve p99 and"
                " longest transaction: as in the interference section, with that batch size.",
                "",
            ]
            if res.batch_study
            else []
        ),
        f"## Reserve throughput (N = {label(res.load_n)})",
        "",
        throughput_table(res),
        "",
        f"pgbench, closed loop, {res.throughput_seconds} s per run; (ratio to the plain UPDATE"
        " without counters). reserve_property: the full function (checks, row lock, counter"
        " trigger). Plain UPDATE: `UPDATE ... WHERE id = $1 AND status = 'AVAILABLE'`, with the"
        " counter trigger, and on a copy where it is disabled.",
        "",
        "![benchmark](bench.png)",
        "",
    ]
    return "\n".join(parts)


def readme_section(res: Results) -> str:
    n = 1_000_000 if 1_000_000 in res.sizes else res.sizes[-1]
    return "\n".join(
        [
            "## Performance",
            "",
            f"Measured {res.machine['date']} on {res.machine['machine']};"
            f" {res.machine['postgres']}; machine {res.machine.get('load', '')}.",
            "",
            f"Releasing a backlog of {expired_count(n):,} expired reservations among {n:,}"
            " properties:",
            "",
            release_table(res, n),
            "",
            "Steady-state run (nothing to release), server-side:",
            "",
            steady_table(res),
            "",
            "Targets, each against figures measured side by side in this run:",
            "",
            targets_table(res),
            "",
            *(
                ["The scheduled run's batch size:", "", batch_study_table(res), ""]
                if res.batch_study
                else []
            ),
            "Reproduce (creates and drops its own pyrelease_bench_* databases, writes"
            " bench-results/):",
            "",
            "```sh",
            "make bench                                  # N = 100k and 1M, 3 rounds",
            'make bench BENCH_ARGS="--with-10m"          # also N = 10M (much longer)',
            'make bench BENCH_ARGS="--sizes 100000 --rounds 5 --dsn postgresql://..."',
            "```",
            "",
        ]
    )


def chart(res: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ((a, b), (d, e)) = plt.subplots(2, 2, figsize=(14, 10))
    width = 0.8 / len(c.RELEASE_CONTENDERS)
    sizes = [n for n in res.sizes if n in res.release]
    for i, contender in enumerate(c.RELEASE_CONTENDERS):
        values = [med([r.rows_per_s for r in res.full_release(n, contender)]) for n in sizes]
        a.bar([x + i * width for x in range(len(sizes))], values, width, label=contender)
    a.set_xticks([x + 0.4 - width / 2 for x in range(len(sizes))], [label(n) for n in sizes])
    a.set_yscale("log")
    a.set_title("Releasing the backlog: rows/s (higher is better)")
    a.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2)

    for variant, text in STEADY_LABELS.items():
        xs = [n for n in res.sizes if res.steady.get(n, {}).get(variant)]
        b.plot(xs, [med(res.steady[n][variant]) for n in xs], marker="o", label=text)
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xlabel("N properties")
    b.set_ylabel("ms per run (server-side)")
    b.set_title("Steady-state run (nothing expired)")
    b.legend(fontsize=8)

    for kind, text in INTERFERENCE_KINDS:
        latencies = sorted(x for r in res.interference[kind] for x in r.latencies_ms)
        if latencies:
            ys = [100 * (i + 1) / len(latencies) for i in range(len(latencies))]
            d.plot(latencies, ys, label=text)
    d.set_xscale("log")
    d.set_xlabel("reserve latency (ms)")
    d.set_ylabel("% of reserve calls")
    d.set_title(f"Reserve latency, {res.clients} clients at {res.rate}/s (CDF)")
    d.legend(fontsize=8)

    for contender, per in res.throughput.items():
        ks = sorted(per)
        e.plot(ks, [med([x.tps for x in per[k]]) for k in ks], marker="o", label=contender)
    e.set_xlabel("clients")
    e.set_ylabel("reserves/s")
    e.set_title("Reserve throughput")
    e.legend(fontsize=8)

    fig.suptitle(f"pyrelease benchmark - {res.machine['date']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(res: Results, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        out / "results.md",
        out / "README-performance.md",
        out / "results.json",
        out / "bench.png",
    ]
    paths[0].write_text(markdown(res))
    paths[1].write_text(readme_section(res))
    raw = asdict(res)
    raw["targets"] = [asdict(t) for t in targets(res)]
    paths[2].write_text(json.dumps(raw, indent=1, default=str))
    chart(res, paths[3])
    return paths
