"""A short soak inside pytest: tests/soak/run.py (pgbench, 8 clients x 10 s, every kind of
operation, release calls racing each other and pg_cron's run) leaves no violation.

The full soak is `python -m tests.soak.run --dsn DSN --clients 8 --seconds 60`; this one
does not wait for a pg_cron tick (it counts the runs that happen to fall in its 10 s)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))


def pgbench() -> str | None:
    if (PG_BINDIR / "pgbench").exists():
        return str(PG_BINDIR / "pgbench")
    return shutil.which("pgbench")


def test_short_soak_keeps_every_invariant(db: str, tmp_path: Path) -> None:
    binary = pgbench()
    if binary is None:
        pytest.skip("pgbench is not installed")
    report, result_file = tmp_path / "soak.md", tmp_path / "soak.json"

    args = [
        *(sys.executable, "-m", "tests.soak.run", "--dsn", db, "--existing-db"),
        *("--clients", "8", "--seconds", "10", "--pgbench", binary),
        *("--min-cron-runs", "0", "--cron-wait", "0", "--caller-pause", "0"),
        *("--report", str(report), "--json", str(result_file)),
    ]
    done = subprocess.run(
        args,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result_file.exists(), done.stdout + done.stderr
    result = json.loads(result_file.read_text())
    assert result["violations"] == [], report.read_text()
    assert result["errors"] == [], report.read_text()  # no deadlock, no unexpected error
    assert result["pgbench_exit"] == 0, done.stderr
    assert done.returncode == 0, report.read_text()
    assert result["problems"] == []
    ran = {s["name"]: s["transactions"] for s in result["scripts"]}
    assert len(ran) == 12 and all(ran.values()), ran
    assert result["releases"]["call"]["released"] > 0
    assert result["releases"]["call"]["released"] == result["releases"]["call"]["events"]
    assert result["backlog_after_drain"] == 0
    assert "## Violations: 0" in report.read_text()
