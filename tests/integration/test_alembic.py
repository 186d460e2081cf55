"""pyrelease in an alembic project (pyrelease.alembic): a throwaway project whose revisions
call pyrelease.alembic.upgrade/downgrade, run by the real `alembic` command against the
server. Two revisions take two pyrelease targets; pyrelease's own commands agree with what
alembic applied."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from factories import connect_to, cron_jobs, current_db, migration_ids, scalar
from test_migrations import applied, installed_names, plpgsql_files, schema_exists, snapshot

import pyrelease
from pyrelease.migrations import head

pytest.importorskip("alembic")

ENV_PY = """
import os

from alembic import context
from sqlalchemy import create_engine

engine = create_engine(os.environ["PYRELEASE_ALEMBIC_URL"])
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
"""

REVISION = """
from alembic import op

import pyrelease.alembic

revision = "{revision}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade():
    {upgrade}


def downgrade():
    {downgrade}
"""

EARLIER = "0009.distribution-keys"  # a release before this one ended here
LATEST = head()  # this release's


def project(tmp_path: Path) -> Path:
    """An alembic project: pyrelease at EARLIER (revision a1), then at LATEST (a2), then the
    application's own table on top of pyrelease's (b1)."""
    root = tmp_path / "alembic-project"
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    (root / "migrations" / "env.py").write_text(ENV_PY)
    revisions = {
        "a1": (
            None,
            f'pyrelease.alembic.upgrade(op, "{EARLIER}")',
            "pyrelease.alembic.downgrade(op)",
        ),
        "a2": (
            '"a1"',
            f'pyrelease.alembic.upgrade(op, "{LATEST}")',
            f'pyrelease.alembic.downgrade(op, "{EARLIER}")',
        ),
        "b1": (
            '"a2"',
            'op.execute("CREATE TABLE public.hold (property_id uuid'
            ' REFERENCES real_estate.property (id))")',
            'op.execute("DROP TABLE public.hold")',
        ),
    }
    for name, (down, up, back) in revisions.items():
        text = REVISION.format(revision=name, down=down, upgrade=up, downgrade=back)
        (root / "migrations" / "versions" / f"{name}.py").write_text(text)
    return root


def alembic(root: Path, dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PYRELEASE_ALEMBIC_URL"] = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(root / "alembic.ini"), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_upgrade_head_and_downgrade_base(
    server: Any, fresh_db: str, db: str, tmp_path: Path
) -> None:
    root = project(tmp_path)
    name = current_db(fresh_db)

    done = alembic(root, fresh_db, "upgrade", "head")

    assert done.returncode == 0, done.stderr
    assert applied(fresh_db) == migration_ids()
    assert set(plpgsql_files()) == installed_names(fresh_db)
    assert len(cron_jobs(server, name)) == 2
    pyrelease.migrate(db)
    assert snapshot(fresh_db) == snapshot(db)  # what `pyrelease migrate` builds
    assert pyrelease.migrate(fresh_db) == []  # and pyrelease agrees on what is applied
    with connect_to(fresh_db) as c:
        assert scalar(c, "SELECT version_num FROM public.alembic_version") == "b1"
        assert scalar(c, "SELECT count(*) FROM public.yoyo_lock") == 0

    done = alembic(root, fresh_db, "downgrade", "base")

    assert done.returncode == 0, done.stderr
    assert not schema_exists(fresh_db)
    assert applied(fresh_db) == []
    assert cron_jobs(server, name) == []


def test_two_revisions_take_two_pyrelease_targets(
    server: Any, fresh_db: str, tmp_path: Path
) -> None:
    root = project(tmp_path)
    ids = migration_ids()
    earlier = ids[: ids.index(EARLIER) + 1]

    done = alembic(root, fresh_db, "upgrade", "a1")

    assert done.returncode == 0, done.stderr
    assert applied(fresh_db) == earlier
    assert installed_names(fresh_db) == set(), "the routines need the latest migration"
    assert cron_jobs(server, current_db(fresh_db)) == []

    done = alembic(root, fresh_db, "upgrade", "a2")

    assert done.returncode == 0, done.stderr
    assert applied(fresh_db) == ids
    assert set(plpgsql_files()) == installed_names(fresh_db)
    jobs = cron_jobs(server, current_db(fresh_db))
    assert len(jobs) == 2

    done = alembic(root, fresh_db, "downgrade", "a1")

    assert done.returncode == 0, done.stderr
    assert applied(fresh_db) == earlier, "back to the earlier release's state, not to nothing"
    # the routines stay, but what the rolled-back migrations' own rollbacks remove (0012's
    # and 0014's: the health rule and the heartbeat's writer, which read their tables)
    assert set(plpgsql_files()) - {"release_health", "record_release_heartbeat"} == (
        installed_names(fresh_db)
    )
    assert cron_jobs(server, current_db(fresh_db)) == jobs
    with connect_to(fresh_db) as c:
        assert scalar(c, "SELECT version_num FROM public.alembic_version") == "a1"

    assert alembic(root, fresh_db, "upgrade", "head").returncode == 0
    assert applied(fresh_db) == ids
    assert alembic(root, fresh_db, "downgrade", "base").returncode == 0
    assert not schema_exists(fresh_db)


def test_offline_mode_is_refused_in_one_line(fresh_db: str, tmp_path: Path) -> None:
    done = alembic(project(tmp_path), fresh_db, "upgrade", "a1", "--sql")
    assert done.returncode != 0
    assert "pyrelease migrate --sql" in done.stderr.strip().splitlines()[-1]
    assert applied_or_none(fresh_db) is None


def applied_or_none(dsn: str) -> list[str] | None:
    with connect_to(dsn) as c:
        if scalar(c, "SELECT to_regclass('public._yoyo_migration')") is None:
            return None
    return applied(dsn)


def test_a_non_owner_is_refused(server: Any, fresh_db: str, tmp_path: Path) -> None:
    """Only the install's owner migrates: a role that is not the owner gets NotOwner."""
    pyrelease.migrate(fresh_db, schedule=False)
    with connect_to(fresh_db) as c:
        c.execute("DROP ROLE IF EXISTS pyrelease_alembic_owner")
        c.execute("CREATE ROLE pyrelease_alembic_owner LOGIN")
        c.execute("ALTER SCHEMA real_estate OWNER TO pyrelease_alembic_owner")
        c.execute("DROP ROLE IF EXISTS pyrelease_alembic_other")
        c.execute("CREATE ROLE pyrelease_alembic_other LOGIN")
        c.execute("GRANT CREATE ON SCHEMA public TO pyrelease_alembic_other")  # alembic's table
    try:
        other = fresh_db.replace("://postgres@", "://pyrelease_alembic_other@", 1)
        done = alembic(project(tmp_path), other, "upgrade", "head")
        assert done.returncode != 0
        assert "belongs to role 'pyrelease_alembic_owner'" in done.stderr.splitlines()[-1]
        assert applied(fresh_db) == migration_ids()
    finally:
        with connect_to(fresh_db) as c:
            c.execute("ALTER SCHEMA real_estate OWNER TO postgres")
            c.execute("DROP OWNED BY pyrelease_alembic_other")
            c.execute("DROP ROLE pyrelease_alembic_owner")
            c.execute("DROP ROLE pyrelease_alembic_other")
        pyrelease.rollback(fresh_db, steps="all")
