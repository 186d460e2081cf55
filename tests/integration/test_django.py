"""pyrelease in a Django project (pyrelease.django): a minimal project whose INSTALLED_APPS
holds "pyrelease.django" and an application app whose migration depends on it, run by the
real `manage.py migrate` against the server; the API on Django's connection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from factories import connect_to, cron_jobs, current_db, migration_ids, scalar
from psycopg.conninfo import conninfo_to_dict
from test_migrations import applied, installed_names, plpgsql_files, schema_exists, snapshot

import pyrelease

pytest.importorskip("django")

SETTINGS = """
SECRET_KEY = "test"
USE_TZ = True
INSTALLED_APPS = ["pyrelease.django", "shop"]
DATABASES = {{"default": {{
    "ENGINE": "django.db.backends.postgresql",
    "NAME": {name!r}, "USER": {user!r}, "HOST": {host!r}, "PORT": {port!r},
}}}}
"""

SHOP_MIGRATION = """
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("pyrelease", "0001_initial")]
    operations = [
        migrations.RunSQL(
            "CREATE TABLE public.shop_hold (property_id uuid REFERENCES real_estate.property (id))",
            "DROP TABLE public.shop_hold",
        )
    ]
"""

MANAGE = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
from django.core.management import execute_from_command_line
execute_from_command_line(sys.argv)
"""

# The API on Django's connection: inside transaction.atomic() (a reservation), then in
# autocommit (what listen() needs), and release_events(), as an application would.
API = """
import os, sys, uuid
from datetime import timedelta
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
import django
django.setup()
from django.db import connection, transaction
import pyrelease
import pyrelease.django

property_id, buyer = sys.argv[1], uuid.uuid4()
conn = pyrelease.django.connection()
assert conn is connection.connection
with transaction.atomic():
    until = pyrelease.reserve(pyrelease.django.connection(), property_id, buyer, timedelta(hours=1))
    assert not conn.autocommit
assert conn.autocommit
assert pyrelease.cancel(conn, property_id, buyer)
events = pyrelease.release_events(conn, after_id=0)
print(until.tzinfo is not None, [e.reason for e in events])
"""


def project(tmp_path: Path, dsn: str) -> Path:
    root = tmp_path / "django-project"
    (root / "shop" / "migrations").mkdir(parents=True)
    params = conninfo_to_dict(dsn)
    settings = SETTINGS.format(
        name=params["dbname"],
        user=params.get("user", ""),
        host=params.get("host", ""),
        port=str(params.get("port", "")),
    )
    (root / "settings.py").write_text(settings)
    (root / "manage.py").write_text(MANAGE)
    (root / "api.py").write_text(API)
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "migrations" / "__init__.py").write_text("")
    (root / "shop" / "migrations" / "0001_initial.py").write_text(SHOP_MIGRATION)
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    return subprocess.run(
        [sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_migrate_installs_and_zero_removes(
    server: Any, fresh_db: str, db: str, tmp_path: Path
) -> None:
    root = project(tmp_path, fresh_db)
    name = current_db(fresh_db)

    done = run(root, "manage.py", "migrate")

    assert done.returncode == 0, done.stderr
    assert applied(fresh_db) == migration_ids()
    assert set(plpgsql_files()) == installed_names(fresh_db)
    assert len(cron_jobs(server, name)) == 2
    with connect_to(fresh_db) as c:
        assert scalar(c, "SELECT to_regclass('public.shop_hold')") is not None
        assert scalar(c, "SELECT count(*) FROM public.yoyo_lock") == 0
    pyrelease.migrate(db)
    assert snapshot(fresh_db) == snapshot(db)
    assert pyrelease.migrate(fresh_db) == []

    done = run(root, "manage.py", "migrate", "pyrelease", "zero")

    assert done.returncode == 0, done.stderr
    assert not schema_exists(fresh_db)
    assert applied(fresh_db) == []
    assert cron_jobs(server, name) == []
    with connect_to(fresh_db) as c:  # the dependent app's migration went first
        assert scalar(c, "SELECT to_regclass('public.shop_hold')") is None
        assert scalar(c, "SELECT count(*) FROM django_migrations WHERE app = 'shop'") == 0


def test_the_api_on_djangos_connection(db: str, tmp_path: Path) -> None:
    from factories import make_project, make_properties, make_workspace

    with connect_to(db) as c:
        ws = make_workspace(c)
        [property_id] = make_properties(c, ws, make_project(c, ws), 1)
    root = project(tmp_path, db)

    done = run(root, "api.py", str(property_id))

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "['cancelled']"]
    with connect_to(db) as c:
        assert (
            scalar(c, "SELECT status FROM real_estate.property WHERE id = %s", (property_id,))
            == "AVAILABLE"
        )
