"""alembic, SQLAlchemy and Django stay optional: `import pyrelease` (and the CLI) import none
of them; the extras name them."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_pyrelease_imports_no_framework() -> None:
    code = (
        "import sys, pyrelease, pyrelease.cli, pyrelease.migrations;"
        " print(sorted(m for m in ('alembic', 'sqlalchemy', 'django') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stdout.strip() == "[]"


def test_the_extras_name_them() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    names = {e: {d.split(">")[0].split("=")[0].lower() for d in deps} for e, deps in extras.items()}
    assert {"alembic", "sqlalchemy"} <= names["alembic"]
    assert names["django"] == {"django"}
    assert {"alembic", "sqlalchemy", "django"} <= names["dev"]
    assert not {"alembic", "sqlalchemy", "django"} & {
        d.split(">")[0].split("[")[0].lower() for d in project["dependencies"]
    }
