"""The package applications depend on: one version (`pyrelease --version`,
`pyrelease.__version__`, the wheel's metadata), a wheel and an sdist that carry migrations/
and plpgsql/, and a wheel-installed pyrelease that migrates a database."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from factories import REPO, migration_ids, scalar

import pyrelease

ROUTINES = sorted(p.name for p in (REPO / "plpgsql").glob("*.sql"))


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel and the sdist, built from this checkout (offline: no isolated env)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


def test_one_version_everywhere(dist: Path) -> None:
    [wheel] = dist.glob("*.whl")
    assert wheel.name.startswith(f"pyrelease-{pyrelease.__version__}-")
    done = subprocess.run(
        [sys.executable, "-m", "pyrelease.cli", "--version"], capture_output=True, text=True
    )
    assert (done.returncode, done.stdout.strip()) == (0, f"pyrelease {pyrelease.__version__}")
    assert f"## {pyrelease.__version__}" in (REPO / "CHANGELOG.md").read_text()


def test_wheel_and_sdist_carry_the_sql(dist: Path) -> None:
    [wheel] = dist.glob("*.whl")
    [sdist] = dist.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for routine in ROUTINES:
        assert f"pyrelease/_sql/plpgsql/{routine}" in names
    for migration in migration_ids():
        assert any(n.startswith(f"pyrelease/_sql/migrations/{migration}.") for n in names)
    assert "pyrelease/queries.sql" in names and "pyrelease/py.typed" in names
    with tarfile.open(sdist) as t:
        members = {m.name.split("/", 1)[1] for m in t.getmembers() if "/" in m.name}
    for routine in ROUTINES:
        assert f"plpgsql/{routine}" in members
    [marker] = [p.name for p in (REPO / "migrations").glob("install.*.py")]
    assert f"pyrelease/_sql/migrations/{marker}" in names  # what `yoyo apply` installs with
    assert {f"migrations/{marker}", "pyproject.toml", "README.md"} <= members


def test_a_wheel_installed_pyrelease_migrates_a_database(
    dist: Path, tmp_path: Path, fresh_db: str
) -> None:
    [wheel] = dist.glob("*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import pyrelease; print(pyrelease.__file__, pyrelease.migrations_dir())",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(target) for p in where), where
    done = subprocess.run(
        [sys.executable, "-m", "pyrelease.cli", "--dsn", fresh_db, "migrate", "--no-schedule"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    import psycopg

    with psycopg.connect(fresh_db) as c:
        applied = scalar(c, "SELECT count(*) FROM public._yoyo_migration")
        routines = scalar(
            c, "SELECT count(*) FROM pg_proc WHERE pronamespace = 'real_estate'::regnamespace"
        )
    assert applied == len(migration_ids()) and routines > 20
