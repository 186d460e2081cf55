"""The installed schema: the committed snapshot schema.sql, and the upgrade of a database made
by the previous layout (routine texts inside migrations 0002/0005) to plpgsql/ + the install."""

from __future__ import annotations

import difflib
import shutil
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path
from typing import Any

import psycopg
import pytest
from factories import assert_counters_exact, make_project, make_properties, make_workspace
from schema_dump import REPO, SNAPSHOT, dump

import pyrelease
from pyrelease.migrations import is_marker

# The last commit of main with the previous layout (every routine also inside 0002/0005).
PREVIOUS_LAYOUT = "79293ec"


def test_fresh_database_matches_the_committed_snapshot(db: str) -> None:
    """A change to what the migrations and plpgsql/ install must show in schema.sql."""
    actual = dump(db)
    expected = SNAPSHOT.read_text()
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(True), actual.splitlines(True), "schema.sql", "migrated", n=1
        )
    )
    assert actual == expected, f"run `make schema` and review the diff:\n{diff[:4000]}"


def _from_history(tmp_path: Path, commit: str, folder: str) -> Path:
    """`folder` as it was at `commit`, extracted under tmp_path."""
    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        pytest.skip("the upgrade tests read earlier layouts from git history: no git here")
    archive = subprocess.run(
        [git, "-C", str(REPO), "archive", "--format=tar", commit, folder],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / folder


def test_upgrade_from_the_previous_layout_keeps_data_and_converges(
    server: Any, fresh_db: str, db: str, tmp_path: Path
) -> None:
    from yoyo import get_backend, read_migrations

    backend = get_backend(
        "postgresql+psycopg://" + fresh_db.removeprefix("postgresql://"), "_yoyo_migration"
    )
    with backend.lock():
        backend.apply_migrations(
            backend.to_apply(
                read_migrations(str(_from_history(tmp_path, PREVIOUS_LAYOUT, "migrations")))
            )
        )
    backend.connection.close()

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        ws = make_workspace(conn)
        project = make_project(conn, ws)
        make_properties(conn, ws, project, 3)
        expired = make_properties(conn, ws, project, 2, status="RESERVED")
        make_properties(conn, ws, project, 1, status="SOLD")
        assert conn.execute("SELECT real_estate.release_expired_reservations(1)").fetchone() == (2,)
        make_properties(conn, ws, project, 4, status="RESERVED")
        before, columns = {}, {}
        for table in ("workspace", "project", "property", "release_run", "release_event"):
            cur = conn.execute(f"SELECT * FROM real_estate.{table} ORDER BY 1")
            before[table] = cur.fetchall()
            columns[table] = ", ".join(d.name for d in cur.description or [])

    previous = {m.id for m in read_migrations(str(tmp_path / "migrations"))}
    newer = [
        m.id
        for m in read_migrations(str(REPO / "migrations"))
        if m.id not in previous and not is_marker(m.id)  # migrate reports numbered ones
    ]
    assert newer[0] == "0006.routine-source"
    assert pyrelease.migrate(fresh_db) == newer

    assert dump(fresh_db) == dump(db), "the upgraded schema differs from a fresh install"
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        after = {
            table: conn.execute(
                f"SELECT {columns[table]} FROM real_estate.{table} ORDER BY 1"
            ).fetchall()
            for table in before
        }
        assert after == before  # new columns aside (below)
        reasons = conn.execute("SELECT DISTINCT reason FROM real_estate.release_event")
        assert reasons.fetchall() == [("expired",)]  # 0007: the existing events expired
        assert conn.execute("SELECT real_estate.release_expired_reservations()").fetchone() == (4,)
        assert assert_counters_exact(conn) == {project: 3 + 2 + 4}
        events = conn.execute("SELECT property_id FROM real_estate.release_event").fetchall()
        assert {e[0] for e in events} >= set(expired)
    pyrelease.rollback(fresh_db, steps="all")


# The last commit of main before each behaviour had one body (the Citus twins, is_distributed).
BEFORE_ONE_BODY = "eaf7771"


def test_upgrade_from_the_twin_routines_drops_them(
    fresh_db: str, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database whose routines came from the layout with the Citus twins
    (release_workspace_batch, run_distributed_release_job, ...) ends, after a migrate,
    with exactly the routines of a fresh install: the files that replace them drop them."""
    from pyrelease import install

    previous = _from_history(tmp_path, BEFORE_ONE_BODY, "plpgsql")
    current = install.routine_files
    monkeypatch.setattr(install, "routine_files", lambda folder=None: current(previous))
    pyrelease.migrate(fresh_db, schedule=False)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        old = conn.execute(
            "SELECT count(*) FROM pg_proc WHERE proname = 'run_distributed_release_job'"
        ).fetchone()
    assert old == (1,)
    monkeypatch.setattr(install, "routine_files", current)
    pyrelease.migrate(fresh_db, schedule=False)
    assert dump(fresh_db) == dump(db), "the upgraded routines differ from a fresh install"
