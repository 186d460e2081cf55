"""What a behavioural test gets from the ``backend`` fixture (conftest.py): a migrated
database on one back-end, empty when the test starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

Conn = psycopg.Connection[Any]


@dataclass
class Backend:
    """A migrated database on one back-end, empty when the test starts."""

    name: str
    """``single`` or ``citus``."""
    dsn: str
    opened: list[Conn] = field(default_factory=list)

    def connect(self, autocommit: bool = True) -> Conn:
        """A new connection to the database, closed after the test."""
        c = psycopg.connect(self.dsn, autocommit=autocommit)
        self.opened.append(c)
        return c
