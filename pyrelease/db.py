"""Opening a connection, with connection failures translated like every other error."""

from __future__ import annotations

from typing import Any

import psycopg

from .errors import translated


def connect(dsn: str) -> psycopg.Connection[Any]:
    """An autocommit connection: each call the package makes is its own transaction."""
    with translated():
        return psycopg.connect(dsn, autocommit=True)
