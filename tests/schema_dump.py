"""The installed schema as text, for the committed snapshot `schema.sql` (as graphile-worker
does): any change to what migrations + plpgsql/ install shows in review as a diff of it. And
the install marker that `yoyo apply` runs (migrations/install.<digest>.py, see
pyrelease/migrations.py), whose id follows plpgsql/ and the numbered migrations.

    python -m tests.schema_dump ADMIN_DSN      # rewrite the marker, then schema.sql

`tests/integration/test_schema.py` compares a freshly migrated database with schema.sql, and
a database upgraded from the previous layout with a fresh one; test_migrations.py compares
the committed marker with the one these folders make.
"""

from __future__ import annotations

import hashlib
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

MARKER = '''\
"""
pyrelease's install marker, written by `make schema` (tests/schema_dump.py): never edit it.

Its id is a digest of plpgsql/ and of the numbered migrations' ids: a release that changes
either brings a new marker, so that `yoyo apply` has a migration to run even when the release
has no numbered one. Its step is the install core that `pyrelease migrate` runs after the
numbered migrations (pyrelease/install.py): the routines from plpgsql/ when they changed,
then the release job. Not transactional: the core commits the routines before it registers
the job, as under `pyrelease migrate`. A failure leaves the marker pending: the next
`yoyo apply` runs it again. Rolling it back changes nothing in the database: the next
`yoyo apply` runs it again.
"""

from yoyo import step

__depends__ = {{{depends}}}
__transactional__ = False


def apply_step(conn):
    from pyrelease.migrations import apply_marker

    apply_marker(conn, "{marker_id}")


steps = [step(apply_step)]
'''


def install_marker(migrations: Path, plpgsql: Path) -> tuple[str, str]:
    """The install marker's file name and text for these folders."""
    from yoyo import read_migrations

    from pyrelease.install import routine_files, source_digest
    from pyrelease.migrations import is_marker

    numbered = [m for m in read_migrations(str(migrations)) if not is_marker(m.id)]
    digest = hashlib.sha256(source_digest(routine_files(plpgsql)).encode())
    for migration in numbered:
        digest.update(b"\0" + migration.id.encode())
    marker_id = f"install.{digest.hexdigest()[:16]}"
    depended = {d.id for m in numbered for d in m.depends}
    depends = ", ".join(f'"{m.id}"' for m in numbered if m.id not in depended)
    return f"{marker_id}.py", MARKER.format(depends=depends, marker_id=marker_id)


def write_install_marker(migrations: Path, plpgsql: Path) -> Path:
    """Replace the install marker in `migrations` with the one these folders make."""
    from pyrelease.migrations import is_marker

    name, text = install_marker(migrations, plpgsql)
    for old in migrations.glob("install.*.py"):
        if is_marker(old.name.removesuffix(".py")) and old.name != name:
            old.unlink()
    (migrations / name).write_text(text)
    return migrations / name


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

    marker = write_install_marker(REPO / "migrations", REPO / "plpgsql")
    print(f"wrote {marker.relative_to(REPO)}")
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
