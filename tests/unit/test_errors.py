"""errors.py without a server: one translation path, one-line messages without passwords,
structured fields, and no assert standing in for a runtime check."""

from __future__ import annotations

import ast
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

import pyrelease
from pyrelease.errors import (
    DatabaseUnavailable,
    InvalidArgument,
    PropertyReserved,
    PyreleaseError,
    expect_row,
    first_line,
    hide,
    one_line,
    redact,
    translate,
    translated,
)

PACKAGE = Path(pyrelease.__file__).resolve().parent


def test_no_assert_guards_a_runtime_result() -> None:
    """python -O drops asserts: the package must not rely on them."""
    found = [
        f"{path.name}:{node.lineno}"
        for path in sorted(PACKAGE.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert found == []


def test_expect_row_raises_a_package_error() -> None:
    assert expect_row((1,), "q") == (1,)
    with pytest.raises(PyreleaseError, match="q returned no row"):
        expect_row(None, "q")


def test_a_client_side_programming_error_is_not_database_unavailable() -> None:
    bug = psycopg.ProgrammingError("query parameter missing: batch_size")
    assert translate(bug) is None
    with pytest.raises(psycopg.ProgrammingError), translated():
        raise bug


def test_client_side_connection_and_data_errors() -> None:
    lost = translate(psycopg.OperationalError("connection failed: refused\nmore"))
    assert isinstance(lost, DatabaseUnavailable)
    assert (str(lost), lost.sqlstate) == ("connection failed: refused", None)
    refused = translate(psycopg.DataError("NUL character"))
    assert isinstance(refused, InvalidArgument)


def test_unknown_errors_pass_through_and_package_errors_stay() -> None:
    assert translate(ValueError("x")) is None
    own = InvalidArgument("bad", sqlstate="RE010")
    assert translate(own) is own


def test_every_package_error_has_the_structured_fields() -> None:
    error = pyrelease.PropertySold("sold")
    assert (error.sqlstate, error.property_id, error.reserved_until) == (None, None, None)
    pid = uuid.uuid4()
    until = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    error = PropertyReserved("held", sqlstate="RE003", property_id=pid, reserved_until=until)
    assert (error.sqlstate, error.property_id, error.reserved_until) == ("RE003", pid, until)
    assert isinstance(error, pyrelease.PropertyNotAvailable)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://u:s3cret@h/d", "postgresql://u:***@h/d"),
        ('in URI: "postgresql://u:s@cret@[bad"', 'in URI: "postgresql://u:***@[bad"'),
        ("host=h password=s3cret user=u", "host=h password=*** user=u"),
        ("host=h password = 'a b\\'c' user=u", "host=h password = *** user=u"),
        ("postgresql://h/d?user=u&password=s3cret", "postgresql://h/d?user=u&password=***"),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
    ],
)
def test_redact_hides_passwords(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_first_line_and_one_line() -> None:
    assert first_line(ValueError("one\ntwo")) == "one"
    assert first_line(ValueError("")) == "ValueError"
    assert first_line(psycopg.OperationalError("bad postgresql://u:pw@h/d\nx")) == (
        "bad postgresql://u:***@h/d"
    )
    assert one_line("ERROR:  boom\nDETAIL:  why\n") == "ERROR: boom DETAIL: why"


def test_hide_removes_every_piece_of_a_password_wherever_libpq_cut_it() -> None:
    hide("postgresql://u:Xy7Q%Wv4@Jk2@h/d")
    hide("host=h password=Mn5 Rt8 port=1")
    assert redact('invalid percent-encoded token: "Xy7Q%Wv4@Jk2"') == (
        'invalid percent-encoded token: "***"'
    )
    assert redact("failed to resolve host 'Jk2@h'") == "failed to resolve host '***@h'"
    assert redact('missing "=" after "Rt8" in connection info string') == (
        'missing "=" after "***" in connection info string'
    )
