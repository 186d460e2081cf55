"""What a behavioural test gets from the ``backend`` fixture (conftest.py): a migrated
database on one back-end, empty when the test starts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from factories import make_project, make_workspace

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


def tenants(conn: Conn, n: int, status: str = "ACTIVE") -> list[tuple[uuid.UUID, uuid.UUID]]:
    """n workspaces with one project each: [(workspace_id, project_id)]."""
    out = []
    for _ in range(n):
        ws = make_workspace(conn, status)  # type: ignore[arg-type]
        out.append((ws, make_project(conn, ws)))
    return out
