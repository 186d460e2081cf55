"""The connections pyrelease opens itself, and what it runs on them.

Every query pyrelease sends on a connection it opened runs inside `pinned()`: a transaction
whose search_path is `pg_catalog, pg_temp` (set LOCAL, so nothing stays on the session: it
holds behind a transaction pooler too), on top of names and operators that are qualified
anyway. Connections an application hands to the API are never SET: those queries are
qualified instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from .errors import DatabaseUnavailable, first_line, hide, translated

SEARCH_PATH = "pg_catalog, pg_temp"
PIN_SEARCH_PATH = "SELECT pg_catalog.set_config('search_path', %s::pg_catalog.text, true)"


def connect(dsn: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """An autocommit connection: each call the package makes is its own transaction. Its
    statements are never prepared (a transaction pooler does not carry them)."""
    hide(dsn)
    try:
        with translated():
            conn = psycopg.connect(dsn, autocommit=True, **kwargs)
            conn.prepare_threshold = None
            return conn
    except psycopg.ProgrammingError as exc:  # libpq could not parse the connection string
        raise DatabaseUnavailable(f"invalid connection string: {first_line(exc)}") from exc


@contextmanager
def pinned(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """A transaction (a savepoint inside one) whose search_path is pinned to pg_catalog."""
    with conn.transaction():
        conn.execute(PIN_SEARCH_PATH, (SEARCH_PATH,))
        yield conn
