"""`python -m tests.benchmarks.grid` (`make bench-grid`): the release's cost over a grid of sizes
and server settings, on a cluster of its own.

    python -m tests.benchmarks.grid [--rounds 3] [--points all] [--out bench-results/grid]
                                    [--plan]

Each point of the grid is a size (500k, 1M, 4M, 10M properties, 5% of them expired) and the
server settings it runs under: shared_buffers 128MB (PostgreSQL's default) and 1GB with
max_wal_size at its default (1GB), and 10M once more with max_wal_size 16GB. At each point, in
every round, the scheduled run, the function and the bare UPDATE release the same backlog on
their own copies of one template (contenders rotating), then the runs after the scheduled
run's and the function's release are probed (as `make bench` does). The cluster is
scripts/pgcluster.sh's, in its own data directory (PYRELEASE_GRID_PGDATA, default
.pgdata-grid, or under /tmp when the server's OS user cannot enter this checkout), restarted
with each point's settings; each template is built once per run and stays for its later
points. Writes grid.md (the tables, the targets at every point, the machine and the settings)
and grid.json to --out.
--plan prints the points, the estimated duration and the disk it needs, and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from . import contenders as c
from . import report
from .__main__ import ROOT, after_release, rotate, slug
from .data import PREFIX, Cluster, build_template, expired_count, label, progress

CONTENDERS = (c.SCHEDULED, c.FUNCTION, c.BARE)
SIZES = (500_000, 1_000_000, 4_000_000, 10_000_000)
# Seconds per round at each size on the 2-core machine of docs/performance.md (three releases,
# their copies and the probes, VACUUM included), and to build each template.
ROUND_S = {500_000: 12, 1_000_000: 25, 4_000_000: 110, 10_000_000: 300}
TEMPLATE_S = {500_000: 15, 1_000_000: 30, 4_000_000: 150, 10_000_000: 420}
GB = 1024**3
TEMPLATE_BYTES = 470  # per property: the table, its indexes, the bare copy, the candidates


@dataclass(frozen=True)
class Point:
    n: int
    shared_buffers: str
    max_wal_size: str = "1GB"

    @property
    def name(self) -> str:
        return (
            f"{label(self.n)}, shared_buffers {self.shared_buffers},"
            f" max_wal_size {self.max_wal_size}"
        )

    @property
    def key(self) -> str:
        return f"{label(self.n)}/{self.shared_buffers}/{self.max_wal_size}"


GRID = (
    *(Point(n, "128MB") for n in SIZES),
    *(Point(n, "1GB") for n in SIZES),
    Point(10_000_000, "1GB", "16GB"),
)


@dataclass
class PointResult:
    point: Point
    settings: str = ""
    release: dict[str, list[c.Release]] = field(default_factory=dict)
    probes: dict[str, list[c.Probe]] = field(default_factory=dict)
    steady: dict[str, list[float]] = field(default_factory=dict)


class GridCluster:
    """scripts/pgcluster.sh on the grid's own data directory."""

    def __init__(self, pgdata: Path) -> None:
        self.env = {**os.environ, "PGRELEASE_PGDATA": str(pgdata)}

    def run(self, *args: str, shared_buffers: str = "1GB") -> str:
        env = {**self.env, "PGRELEASE_SHARED_BUFFERS": shared_buffers}
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "pgcluster.sh"), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"pgcluster.sh {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout.strip()

    def start(self, point: Point) -> Cluster:
        """(Re)start the server with the point's settings; the cluster to use."""
        self.run(
            "start", "--set", f"max_wal_size={point.max_wal_size}",
            shared_buffers=point.shared_buffers,
        )  # fmt: skip
        return Cluster(self.run("dsn"))

    def stop(self) -> None:
        self.run("stop")


def default_pgdata() -> Path:
    if os.environ.get("PYRELEASE_GRID_PGDATA"):
        return Path(os.environ["PYRELEASE_GRID_PGDATA"])
    inside = ROOT / ".pgdata-grid"
    probe = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(ROOT)]
        if os.geteuid() == 0
        else ["test", "-x", str(ROOT)],
        check=False,
    )
    return inside if probe.returncode == 0 else Path("/tmp") / f"pyrelease-grid-{os.getuid()}"


def estimate(points: Sequence[Point], rounds: int) -> tuple[float, int]:
    """(seconds, bytes of disk at the peak): the templates, then every round of every point
    (a point at 128MB takes about 1.5 times as long); at the peak, every template, one copy
    of the largest and the WAL since the last CHECKPOINT."""
    sizes = {p.n for p in points}
    seconds = sum(TEMPLATE_S.get(n, n / 25_000) for n in sizes)
    for p in points:
        per_round = ROUND_S.get(p.n, p.n / 33_000) * (1.5 if p.shared_buffers == "128MB" else 1)
        seconds += rounds * per_round
    # WAL: a CHECKPOINT precedes every release, which writes at most about 6 GB (10M)
    wal = min(max(int(p.max_wal_size.removesuffix("GB")) for p in points), 6) * GB + GB
    disk = sum(n * TEMPLATE_BYTES for n in sizes) + max(sizes) * TEMPLATE_BYTES + wal
    return seconds, disk


def measure(cluster: Cluster, template: str, result: PointResult, rounds: int) -> None:
    """Each round: every contender releases the backlog on its own copy; on the scheduled
    run's and the function's copies, the runs that follow are probed (make bench's
    after_release: new sessions, before and after VACUUM)."""
    n = result.point.n
    res = report.Results(
        sizes=[n], rounds=rounds, sample=0, rate=0, load_n=n, backlog=0, command="", machine={}
    )
    for r in range(rounds):
        for contender in rotate(list(CONTENDERS), r):
            name = f"{PREFIX}grid_r{r}_{slug(contender)}"
            with cluster.copy(template, name) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
                got = c.release(conn, contender, 0)
                if got.rows != expired_count(n):
                    raise RuntimeError(f"{contender} released {got.rows} rows")
                result.release.setdefault(contender, []).append(got)
                progress(
                    f"{result.point.name}, round {r + 1}/{rounds}, {contender}: {got.wall_s:.2f} s,"
                    f" CPU {got.cpu_s or 0:.2f} s, WAL {got.wal_bytes / 1e6:,.0f} MB"
                )
                if contender in (c.SCHEDULED, c.FUNCTION):
                    after_release(conn, dsn, n, contender, res)
    result.probes = res.probes.get(n, {})
    result.steady = res.steady.get(n, {})


def ratio(result: PointResult, contender: str, attr: str) -> float:
    def med(name: str) -> float:
        return report.med([float(getattr(x, attr) or 0) for x in result.release[name]])

    return med(contender) / med(c.BARE)


def point_table(result: PointResult) -> str:
    rows = []
    for contender in CONTENDERS:
        runs = result.release.get(contender, [])
        cpu = [x.cpu_s for x in runs if x.cpu_s is not None]
        rows.append(
            [
                contender,
                report.spread([x.wall_s for x in runs], report.secs),
                report.spread([x.rows_per_s for x in runs], report.count),
                report.spread([float(x.wal_bytes) for x in runs], report.mb),
                report.spread(cpu, report.secs) if cpu else "-",
                f"**{ratio(result, contender, 'wall_s'):.2f}x**",
                f"{ratio(result, contender, 'cpu_s'):.2f}x" if cpu else "-",
                f"{ratio(result, contender, 'wal_bytes'):.2f}x",
            ]
        )
    header = ["contender", "wall time", "rows/s", "WAL", "server CPU"]
    header += ["time / limit", "CPU / limit", "WAL / limit"]
    return report.table(header, rows)


def probe_ms(result: PointResult, key: str) -> float:
    return report.med([p.ms for p in result.probes.get(key, [])])


def targets(result: PointResult) -> list[tuple[str, str, bool]]:
    """The release's targets at this point: (target, measured, met)."""
    fn, sched = ratio(result, c.FUNCTION, "wall_s"), ratio(result, c.SCHEDULED, "wall_s")
    wal = ratio(result, c.SCHEDULED, "wal_bytes")
    out = [
        ("function <= 1.3x the bare UPDATE", f"{fn:.2f}x", fn <= 1.3),
        ("scheduled run <= 1.4x the bare UPDATE", f"{sched:.2f}x", sched <= 1.4),
        ("scheduled run's WAL <= 1.2x the bare UPDATE's", f"{wal:.2f}x", wal <= 1.2),
    ]
    steady = report.med(result.steady.get(report.STEADY_FUNCTION, []))
    out.append(("steady state <= 0.05 ms", f"{steady:.3f} ms", steady <= 0.05))
    for by in ("scheduled run", "function"):
        first = probe_ms(result, f"{by}|before VACUUM|run 1")
        out.append((f"first run after the {by}'s release <= 5 ms", f"{first:.2f} ms", first <= 5))
        later = report.med(result.steady.get(f"{by}|before VACUUM", []))
        out.append(
            (
                f"later runs after the {by}'s release <= 2x steady state, no VACUUM",
                f"{later:.3f} ms ({later / steady:.1f}x)",
                later <= 2 * steady,
            )
        )
    return out


def markdown(results: Sequence[PointResult], machine: dict[str, str], meta: dict[str, str]) -> str:
    parts = [
        "# pyrelease benchmark grid",
        "",
        f"Measured {machine['date']} on {machine['machine']}; {machine['postgres']};"
        f" machine {machine.get('load', '')}. Command: `{meta['command']}` ({meta['duration']});"
        f" {meta['rounds']} rounds per point, contenders rotating; cells: median (min-max).",
        "",
        "Each release runs on its own copy of the point's template after a CHECKPOINT: N"
        " properties, 5% of them expired reservations (E = N/20), 100 workspaces x 10"
        " projects. The limit is one UPDATE of the same rows of bench.property_bare (same"
        " columns, indexes and checks; no triggers, counters, events or batches). Server CPU:"
        " the release backend's CPU time (/proc/PID/schedstat). WAL: the LSN difference.",
        "",
        "## Ratios at every point (median of the rounds)",
        "",
    ]
    summary = []
    for res in results:
        first = [probe_ms(res, f"{by}|before VACUUM|run 1") for by in ("scheduled run", "function")]
        summary.append(
            [
                res.point.name,
                f"{ratio(res, c.FUNCTION, 'wall_s'):.2f}x",
                f"{ratio(res, c.SCHEDULED, 'wall_s'):.2f}x",
                f"{ratio(res, c.SCHEDULED, 'wal_bytes'):.2f}x",
                f"{ratio(res, c.FUNCTION, 'cpu_s'):.2f}x / {ratio(res, c.SCHEDULED, 'cpu_s'):.2f}x",
                f"{first[0]:.2f} / {first[1]:.2f}",
            ]
        )
    header = [
        "point (N expired: 5%)",
        "function / bare",
        "scheduled / bare",
        "scheduled WAL / bare",
    ]
    header += ["CPU: function / scheduled", "first run after (ms): scheduled / function"]
    parts += [report.table(header, summary), ""]
    for res in results:
        met = sum(ok for _, _, ok in targets(res))
        parts += [
            f"## {res.point.name}",
            "",
            f"Server: {res.settings}.",
            "",
            point_table(res),
            "",
            report.table(
                ["target", "measured", ""],
                [[t, m, "**met**" if ok else "**MISSED**"] for t, m, ok in targets(res)],
            ),
            "",
            f"{met} of {len(targets(res))} targets met at this point.",
            "",
        ]
    return "\n".join(parts)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.grid", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per point (default 3)")
    parser.add_argument(
        "--points",
        default="all",
        help="'all', or comma-separated points as N/shared_buffers[/max_wal_size]"
        " (e.g. 500k/128MB,10M/1GB/16GB)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "grid")
    parser.add_argument("--plan", action="store_true", help="print the plan and exit")
    args = parser.parse_args(argv)
    if args.points == "all":
        args.points = list(GRID)
    else:
        wanted = {p.strip() for p in args.points.split(",") if p.strip()}
        known = {p.key: p for p in GRID} | {p.key.removesuffix("/1GB"): p for p in GRID}
        unknown = wanted - set(known)
        if unknown:
            parser.error(
                f"unknown point(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}"
            )
        args.points = [p for p in GRID if p in {known[w] for w in wanted}]
    if args.rounds < 1:
        parser.error("rounds must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pgdata = default_pgdata()
    seconds, disk = estimate(args.points, args.rounds)
    free = shutil.disk_usage(pgdata.parent if not pgdata.exists() else pgdata).free
    command = " ".join(
        ["python -m tests.benchmarks.grid", *(sys.argv[1:] if argv is None else argv)]
    )
    print(
        f"bench-grid: {len(args.points)} points x {args.rounds} rounds, about"
        f" {seconds / 60:.0f} min on a 2-core machine; needs about {disk / GB:.0f} GB of disk"
        f" ({free / GB:.0f} GB free) and 1 GB of shared memory; cluster in {pgdata}",
        file=sys.stderr,
        flush=True,
    )
    for p in args.points:
        print(f"  {p.name}", file=sys.stderr)
    if args.plan:
        return 0
    if free < disk:
        raise SystemExit(f"bench-grid: {disk / GB:.0f} GB of disk needed, {free / GB:.0f} GB free")
    grid = GridCluster(pgdata)
    started = time.monotonic()
    results: list[PointResult] = []
    machine: dict[str, str] = {}
    templates: dict[int, str] = {}
    try:
        for point in args.points:
            cluster = grid.start(point)
            # An interrupted run's databases go; the templates this run built stay for its
            # later points (a template of an earlier run may hold other code: rebuilt).
            cluster.drop_leftovers(keep=templates.values())
            with cluster.connect() as conn:
                version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
                settings = conn.execute(
                    "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name)"
                    " FROM pg_settings WHERE name IN ('shared_buffers', 'max_wal_size', 'fsync',"
                    " 'synchronous_commit', 'full_page_writes', 'work_mem', 'checkpoint_timeout')"
                ).fetchone()[0]  # type: ignore[index]
            if not machine:
                machine = report.machine(cluster, version)
            if point.n not in templates:
                templates[point.n] = build_template(cluster, point.n)
            result = PointResult(point, settings=str(settings))
            measure(cluster, templates[point.n], result, args.rounds)
            results.append(result)
            write(results, machine, args, command, time.monotonic() - started)
    finally:
        grid.stop()
    progress(f"bench-grid done in {(time.monotonic() - started) / 60:.0f} min: {args.out}")
    return 0


def write(
    results: Sequence[PointResult],
    machine: dict[str, str],
    args: argparse.Namespace,
    command: str,
    elapsed: float,
) -> None:
    """grid.md and grid.json, rewritten after every point (a run cut short keeps its points)."""
    args.out.mkdir(parents=True, exist_ok=True)
    machine = {**machine, "load": machine.get("load", "") + f"; at the end: {report.loadavg()}"}
    meta = {"command": command, "duration": f"{elapsed / 60:.0f} min", "rounds": str(args.rounds)}
    (args.out / "grid.md").write_text(markdown(results, machine, meta))
    raw = {
        "machine": machine,
        "meta": meta,
        "points": [
            {**asdict(r), "targets": [list(t) for t in targets(r)], "name": r.point.name}
            for r in results
        ],
    }
    (args.out / "grid.json").write_text(json.dumps(raw, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
