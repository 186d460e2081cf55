"""pyrelease in a Django project (the `pyrelease[django]` extra).

`"pyrelease.django"` in INSTALLED_APPS: `manage.py migrate` installs pyrelease (app label
`pyrelease`; its migration 0001_initial brings it to "0014.release-heartbeat", a later
release adds one per release), `manage.py migrate pyrelease zero` removes it, and an
application's migration that needs it depends on it:
`dependencies = [("pyrelease", "0001_initial")]`. The migrations run on Django's own
connection (psycopg 3), outside any transaction (`atomic = False`), as the install's owner,
with the same statements, yoyo bookkeeping and lock as `pyrelease migrate`.

`connection()` is the psycopg connection under Django's: what the API takes. (This
package's `migrations` is the Django app's migrations folder: pyrelease's own module is
imported under other names here.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from ..errors import MigrationError
from ..migrations import downgrade, upgrade


def connection(using: str = "default") -> psycopg.Connection[Any]:
    """The psycopg 3 connection of Django's database `using` (connected if it was not)."""
    from django.db import connections

    wrapper = connections[using]
    wrapper.ensure_connection()
    return psycopg_of(wrapper)


def psycopg_of(wrapper: Any) -> psycopg.Connection[Any]:
    conn = wrapper.connection
    if not isinstance(conn, psycopg.Connection):
        raise MigrationError(
            "pyrelease needs Django's PostgreSQL backend on psycopg 3 (Django 4.2+),"
            f" not {type(conn).__module__}"
        )
    return conn


Operation = Callable[[Any, Any], None]


def upgrade_to(target: str) -> Operation:
    """A RunPython function bringing pyrelease to its numbered migration `target`."""

    def forward(apps: Any, schema_editor: Any) -> None:
        wrapper = schema_editor.connection
        wrapper.ensure_connection()
        upgrade(psycopg_of(wrapper), target)

    return forward


def downgrade_to(target: str | None) -> Operation:
    """A RunPython function rolling pyrelease back to `target` (None: removing it)."""

    def backward(apps: Any, schema_editor: Any) -> None:
        wrapper = schema_editor.connection
        wrapper.ensure_connection()
        downgrade(psycopg_of(wrapper), target)

    return backward
