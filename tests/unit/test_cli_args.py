"""The command line without a server: DSN resolution and argument parsing."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from pyrelease import DatabaseUnavailable
from pyrelease.cli import resolve_dsn


def test_resolve_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    assert conninfo_to_dict(resolve_dsn(None)) == {"connect_timeout": "10"}
    assert conninfo_to_dict(resolve_dsn("dbname=x connect_timeout=3"))["connect_timeout"] == "3"
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@h:5433/d")
    assert conninfo_to_dict(resolve_dsn(None)) == {
        "user": "u",
        "host": "h",
        "port": "5433",
        "dbname": "d",
        "connect_timeout": "10",
    }
    assert conninfo_to_dict(resolve_dsn("dbname=other"))["dbname"] == "other"
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "5")
    assert resolve_dsn("dbname=x") == "dbname=x"
    with pytest.raises(DatabaseUnavailable, match="invalid connection string"):
        resolve_dsn("not a dsn =")
