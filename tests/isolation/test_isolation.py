"""Concurrency proofs: PostgreSQL's own isolation tester runs tests/isolation/specs/*.spec.

Each spec drives several sessions through chosen interleavings (permutations); the tester
prints every step, which steps had to wait ("<waiting ...>"), every result and error. The
output of a spec, run in a fresh migrated database, must equal
tests/isolation/expected/<spec>.out byte for byte; a mismatch shows a unified diff.

The tester ships with PostgreSQL's server development files (Debian:
postgresql-server-dev-15, ``/usr/lib/postgresql/15/lib/pgxs/src/test/isolation/``);
``PYRELEASE_ISOLATIONTESTER`` may point at another copy. Without it these tests skip.

To (re)generate an expected file, run the spec by hand and READ the output before keeping
it: it is the proof::

    isolationtester "postgresql://.../a_migrated_db" \\
        < tests/isolation/specs/NAME.spec > tests/isolation/expected/NAME.out
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ISOLATION_DIR = Path(__file__).resolve().parent
SPECS_DIR = ISOLATION_DIR / "specs"
EXPECTED_DIR = ISOLATION_DIR / "expected"
DEFAULT_TESTER = Path("/usr/lib/postgresql/15/lib/pgxs/src/test/isolation/isolationtester")
# isolationtester cancels a step that waits longer than 300 s and goes on; this bounds a
# whole spec that hangs anyway.
TIMEOUT_S = 900

# Specs that hold the CORRECT output for behaviour the SQL does not have yet.
# Specs whose expected output shows the correct behaviour that the SQL does not have yet.
KNOWN_BUGS: dict[str, str] = {}


def _tester() -> Path | None:
    configured = os.environ.get("PYRELEASE_ISOLATIONTESTER")
    if configured:
        return Path(configured)
    if DEFAULT_TESTER.exists():
        return DEFAULT_TESTER
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            pgxs = subprocess.run(
                [pg_config, "--pgxs"], capture_output=True, text=True, timeout=30, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
        candidate = Path(pgxs).parent.parent / "test" / "isolation" / "isolationtester"
        if candidate.exists():
            return candidate
    return None


def _spec_params() -> list[pytest.ParameterSet]:
    params = []
    for spec in sorted(SPECS_DIR.glob("*.spec")):
        marks = []
        if spec.stem in KNOWN_BUGS:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[spec.stem]))
        params.append(pytest.param(spec, id=spec.stem, marks=marks))
    return params


@pytest.fixture(scope="module")
def isolationtester() -> Path:
    tester = _tester()
    if tester is None or not os.access(tester, os.X_OK):
        pytest.skip(
            f"PostgreSQL's isolationtester is not installed (looked for"
            f" {tester or DEFAULT_TESTER}; install postgresql-server-dev-15 or set"
            " PYRELEASE_ISOLATIONTESTER)"
        )
    return tester


@pytest.mark.parametrize("spec", _spec_params())
def test_isolation_spec(spec: Path, db: str, isolationtester: Path) -> None:
    expected_file = EXPECTED_DIR / f"{spec.stem}.out"
    with spec.open("rb") as stdin:
        try:
            done = subprocess.run(
                [str(isolationtester), db],
                stdin=stdin,
                capture_output=True,
                timeout=TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            partial = (exc.stdout or b"").decode(errors="replace")
            pytest.fail(f"isolationtester still running after {TIMEOUT_S} s:\n{partial}")
    actual = done.stdout.decode()
    stderr = done.stderr.decode().strip()
    assert expected_file.exists(), (
        f"no expected output {expected_file.relative_to(ISOLATION_DIR.parent.parent)};"
        f" this run printed:\n{actual}\nstderr:\n{stderr}"
    )
    expected = expected_file.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"expected/{expected_file.name}",
                tofile=f"actual ({spec.name})",
            )
        )
        pytest.fail(f"isolation output differs:\n{diff}\nstderr:\n{stderr}", pytrace=False)
    assert done.returncode == 0, f"isolationtester exited {done.returncode}: {stderr}"


def test_every_expected_output_has_its_spec() -> None:
    specs = {p.stem for p in SPECS_DIR.glob("*.spec")}
    outputs = {p.stem for p in EXPECTED_DIR.glob("*.out")}
    assert specs, f"no specs in {SPECS_DIR}"
    assert outputs == specs, (
        f"specs without expected output: {sorted(specs - outputs)};"
        f" expected outputs without spec: {sorted(outputs - specs)}"
    )
