"""Opening a connection, with connection failures translated like every other error."""

from __future__ import annotations

from typing import Any

import psycopg

from .errors import DatabaseUnavailable, first_line, translated


def connect(dsn: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """An autocommit connection: each call the package makes is its own transaction."""
    try:
        with translated():
            return psycopg.connect(dsn, autocommit=True, **kwargs)
    except psycopg.ProgrammingError as exc:  # libpq could not parse the connection string
        raise DatabaseUnavailable(f"invalid connection string: {first_line(exc)}") from exc
