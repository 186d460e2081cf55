"""The story `make demo` tells, on the demo database (after scripts/demo_data.py loaded it).

1. Before: per project, its workspace's status, the counter (available_plots), and how many
   reservations have expired or are live.
2. The release runs (what pg_cron does every 5 minutes); after: the same table.
3. Why the SUSPENDED workspace's expired reservations are still there.
4. A reservation with a 3-second TTL expires while `pyrelease watch` runs: the release
   picks it up and the watch prints it.

Only the runtime dependencies (psycopg, and pyrelease itself) are needed.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from typing import Any

import psycopg

import pyrelease

TTL = timedelta(seconds=3)

PROJECTS = """
SELECT w.name, w.activation_status, pr.name, pr.available_plots,
       count(*) FILTER (WHERE p.status = 'RESERVED' AND p.reserved_until <= now()),
       count(*) FILTER (WHERE p.status = 'RESERVED' AND p.reserved_until > now()),
       count(*) FILTER (WHERE p.status = 'SOLD')
  FROM real_estate.project AS pr
  JOIN real_estate.workspace AS w ON w.id = pr.workspace_id
  LEFT JOIN real_estate.property AS p ON p.project_id = pr.id
 WHERE w.name LIKE 'Demo workspace %'
 GROUP BY w.name, w.activation_status, pr.name, pr.available_plots
 ORDER BY pr.name
"""


def say(text: str = "") -> None:
    print(text, flush=True)


def table(conn: psycopg.Connection[Any], title: str) -> dict[str, int]:
    say(title)
    heads = ("available", "expired", "live", "sold")
    say(f"  {'project':<16} {'workspace':<10} " + " ".join(f"{h:>9}" for h in heads))
    counters = {}
    for _ws, status, project, available, expired, live, sold in conn.execute(PROJECTS):
        counts = (available, expired, live, sold)
        say(f"  {project:<16} {status:<10} " + " ".join(f"{c:>9}" for c in counts))
        counters[project] = available
    return counters


def main(argv: list[str]) -> int:
    dsn = argv[1] if len(argv) > 1 else ""
    with psycopg.connect(dsn, autocommit=True) as conn:
        say("== 1. Before the release")
        before = table(conn, "")
        say()
        say("== 2. The release (pg_cron runs it every 5 minutes; here we call it now)")
        released = pyrelease.release_expired(conn)
        say(f"  released {released} expired reservation(s)")
        after = table(conn, "")
        for project, count in after.items():
            if count != before[project]:
                say(f"  {project}: available_plots {before[project]} -> {count}")
        say()
        say("== 3. Why the SUSPENDED workspace kept its expired reservations")
        row = conn.execute(
            "SELECT count(*) FROM real_estate.property_availability AS a"
            " JOIN real_estate.workspace AS w ON w.id = a.workspace_id"
            " WHERE w.activation_status = 'SUSPENDED' AND a.status = 'RESERVED'"
            " AND a.reserved_until <= now()"
        ).fetchone()
        say(
            f"  {row[0] if row else 0} expired reservation(s) of 'Demo workspace 3' are still"
            " RESERVED: only ACTIVE workspaces' reservations are released (and granted)."
        )
        say(
            "  A suspended workspace is frozen as it is: nothing is released, counted back or"
            " re-reserved there until it is ACTIVE again; the next release after that frees them."
        )
        say()
        say(f"== 4. A reservation of {TTL.total_seconds():.0f} seconds, watched as it expires")
        watch = subprocess.Popen(
            [sys.executable, "-m", "pyrelease.cli", "--dsn", dsn, "watch"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert watch.stdout is not None and watch.stderr is not None
        say(f"  $ pyrelease watch   ({watch.stderr.readline().strip()})")
        found = conn.execute(
            "SELECT p.id, p.name FROM real_estate.property AS p"
            " JOIN real_estate.workspace AS w ON w.id = p.workspace_id"
            " WHERE p.status = 'AVAILABLE' AND w.activation_status = 'ACTIVE'"
            " ORDER BY p.name LIMIT 1"
        ).fetchone()
        assert found is not None
        property_id, name = found
        buyer = uuid.uuid4()
        until = pyrelease.reserve(conn, property_id, buyer, ttl=TTL)
        say(f"  reserved {name} for buyer {buyer} until {until:%H:%M:%S}")
        while pyrelease.release_expired(conn) == 0:  # what the scheduled run would do
            time.sleep(0.5)
        say(f"  the release freed it at {time.strftime('%H:%M:%S')}; pyrelease watch printed:")
        say("  " + watch.stdout.readline().strip())
        watch.send_signal(signal.SIGINT)
        watch.wait(timeout=30)
        say(f"  (Ctrl-C: pyrelease watch exited {watch.returncode})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
