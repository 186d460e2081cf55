"""The installed schema as text, for the committed snapshot `schema.sql` (as graphile-worker
does): any change to what migrations + plpgsql/ install shows in review as a diff of it.

    python -m tests.schema_dump ADMIN_DSN      # rewrite schema.sql from a fresh database

`tests/integration/test_schema.py` compares a freshly migrated database with schema.sql, and
a database upgraded from the previous layout with a fresh one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

REPO = Path(__file__).resolve().parent.parent
SNAPSHOT = REPO / "schema.sql"
PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))


def dump(dsn: str) -> str:
    """pg_dump of schema real_estate (no owners, no data), without its per-run lines."""
    done = subprocess.run(
        [str(PG_BINDIR / "pg_dump"), "--schema-only", "--no-owner", "--schema=real_estate", dsn],
        capture_output=True,
        text=True,
        check=True,
    )
    kept = [
        line
        for line in done.stdout.splitlines()
        # \restrict keys are random per run; version lines name the binaries' minor release.
        if not line.startswith(("\\restrict", "\\unrestrict", "-- Dumped from", "-- Dumped by"))
    ]
    return "\n".join(kept).strip() + "\n"


def main(admin_dsn: str) -> None:
    import pyrelease

    name = f"pyrelease_schema_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = make_conninfo(admin_dsn, dbname=name)
    try:
        pyrelease.migrate(dsn)
        SNAPSHOT.write_text(dump(dsn))
        pyrelease.rollback(dsn, steps="all")  # removes its pg_cron job too
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    print(f"wrote {SNAPSHOT.relative_to(REPO)}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.schema_dump ADMIN_DSN")
    main(sys.argv[1])
