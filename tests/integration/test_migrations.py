"""The migrations: apply, re-apply, roll back, concurrency, failure, drift against plpgsql/,
privileges, the yoyo command line, and the wheel that ships the SQL."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
import pytest
from factories import (
    JOB,
    connect_to,
    cron_jobs,
    current_db,
    drop_jobs,
    extra_database,
    make_properties,
    make_workspace,
    migration_ids,
    scalar,
)
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from schema_dump import install_marker, write_install_marker

import pyrelease
from pyrelease import MigrationError

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = REPO / "migrations"
PLPGSQL = REPO / "plpgsql"
SCHEMA = "real_estate"
YOYO_TABLES = {"_yoyo_log", "_yoyo_migration", "_yoyo_version", "yoyo_lock"}

Conn = psycopg.Connection[Any]
Snapshot = dict[str, list[tuple[Any, ...]]]


# --------------------------------------------------------------------------- helpers


def plpgsql_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PLPGSQL.glob("*.sql"))}


def applied(dsn: str) -> list[str]:
    with connect_to(dsn) as conn:
        rows = conn.execute(
            "SELECT migration_id FROM public._yoyo_migration ORDER BY applied_at_utc, migration_id"
        ).fetchall()
    return [r[0] for r in rows]


SNAPSHOT_QUERIES: dict[str, str] = {
    "schema": """
        SELECT n.nspname, n.nspacl::text, obj_description(n.oid, 'pg_namespace')
          FROM pg_namespace AS n WHERE n.nspname = %(s)s""",
    "relations": """
        SELECT c.relname, c.relkind, c.relacl::text, obj_description(c.oid, 'pg_class')
          FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = %(s)s ORDER BY 1""",
    "columns": """
        SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
               a.attacl::text, col_description(c.oid, a.attnum)
          FROM pg_attribute AS a
          JOIN pg_class AS c ON c.oid = a.attrelid
          JOIN pg_namespace AS n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = %(s)s AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY 1, 2""",
    "constraints": """
        SELECT co.conrelid::regclass::text, co.conname, co.contype, pg_get_constraintdef(co.oid),
               obj_description(co.oid, 'pg_constraint')
          FROM pg_constraint AS co JOIN pg_namespace AS n ON n.oid = co.connamespace
         WHERE n.nspname = %(s)s ORDER BY 1, 2""",
    "indexes": """
        SELECT i.indexname, i.tablename, i.indexdef, x.indisvalid, x.indisready
          FROM pg_indexes AS i
          JOIN pg_class AS c ON c.relname = i.indexname
          JOIN pg_namespace AS n ON n.oid = c.relnamespace AND n.nspname = i.schemaname
          JOIN pg_index AS x ON x.indexrelid = c.oid
         WHERE i.schemaname = %(s)s ORDER BY 1""",
    "routines": """
        SELECT p.oid::regprocedure::text, p.prokind, pg_get_functiondef(p.oid), p.proacl::text,
               p.proconfig, p.prosecdef, obj_description(p.oid, 'pg_proc')
          FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
         WHERE n.nspname = %(s)s ORDER BY 1""",
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
          FROM pg_trigger AS t
          JOIN pg_class AS c ON c.oid = t.tgrelid
          JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = %(s)s AND NOT t.tgisinternal ORDER BY 1, 2""",
    "views": """
        SELECT v.viewname, v.definition FROM pg_views AS v
         WHERE v.schemaname = %(s)s ORDER BY 1""",
    "types": """
        SELECT t.typname, t.typtype FROM pg_type AS t
          JOIN pg_namespace AS n ON n.oid = t.typnamespace
         WHERE n.nspname = %(s)s AND t.typrelid = 0 AND t.typelem = 0 ORDER BY 1""",
}


def snapshot(dsn: str) -> Snapshot:
    """Everything the migrations define in schema real_estate, as comparable rows."""
    with connect_to(dsn) as conn:
        return {
            name: conn.execute(query, {"s": SCHEMA}).fetchall()
            for name, query in SNAPSHOT_QUERIES.items()
        }


def user_objects(dsn: str) -> set[tuple[str, str]]:
    """Every object of the database outside the system schemas, yoyo's own tables aside."""
    system = "('pg_catalog', 'information_schema', 'pg_toast')"
    with connect_to(dsn) as conn:
        rows = conn.execute(
            f"""
            SELECT 'schema', n.nspname FROM pg_namespace AS n
             WHERE n.nspname NOT IN {system} AND n.nspname <> 'public'
               AND n.nspname !~ '^pg_(toast_)?temp_'
            UNION ALL
            SELECT 'schema acl', coalesce(n.nspacl::text, '') FROM pg_namespace AS n
             WHERE n.nspname = 'public'
            UNION ALL
            SELECT 'relation', n.nspname || '.' || c.relname
              FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
             WHERE n.nspname NOT IN {system} AND n.nspname !~ '^pg_(toast_)?temp_'
            UNION ALL
            SELECT 'routine', p.oid::regprocedure::text
              FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
             WHERE n.nspname NOT IN {system}
            UNION ALL
            SELECT 'type', n.nspname || '.' || t.typname
              FROM pg_type AS t JOIN pg_namespace AS n ON n.oid = t.typnamespace
             WHERE n.nspname NOT IN {system} AND t.typrelid = 0 AND t.typelem = 0
            UNION ALL
            SELECT 'event trigger', evtname FROM pg_event_trigger
            UNION ALL
            SELECT 'extension', extname FROM pg_extension
            UNION ALL
            SELECT 'default acl', defaclrole::regrole::text FROM pg_default_acl
            UNION ALL
            SELECT 'acl dependency', d.classid::regclass::text || ' -> ' || d.refobjid::regrole
              FROM pg_shdepend AS d
             WHERE d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND d.deptype IN ('a', 'i', 'r')
            """
        ).fetchall()
    yoyo = re.compile(r"^public\.(" + "|".join(sorted(YOYO_TABLES)) + r")(_pkey)?$")
    return {(kind, name) for kind, name in rows if not (kind == "relation" and yoyo.match(name))}


def schema_exists(dsn: str) -> bool:
    with connect_to(dsn) as conn:
        row = conn.execute("SELECT to_regnamespace(%s) IS NOT NULL", (SCHEMA,)).fetchone()
    assert row is not None
    return bool(row[0])


def routine_names(dsn: str) -> set[str]:
    with connect_to(dsn) as conn:
        rows = conn.execute(
            "SELECT p.proname FROM pg_proc AS p WHERE p.pronamespace = to_regnamespace(%s)",
            (SCHEMA,),
        ).fetchall()
    return {r[0] for r in rows}


def installed_names(dsn: str) -> set[str]:
    """The routines and views of the schema: what the install installs from plpgsql/."""
    with connect_to(dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_class AS c"
            " WHERE c.relnamespace = to_regnamespace(%s) AND c.relkind = 'v'",
            (SCHEMA,),
        ).fetchall()
    return routine_names(dsn) | {r[0] for r in rows}


def relation_names(dsn: str) -> set[str]:
    with connect_to(dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_class AS c WHERE c.relnamespace = to_regnamespace(%s)",
            (SCHEMA,),
        ).fetchall()
    return {r[0] for r in rows}


def trigger_names(dsn: str) -> set[str]:
    with connect_to(dsn) as conn:
        rows = conn.execute(
            "SELECT t.tgname FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid"
            " WHERE c.relnamespace = to_regnamespace(%s) AND NOT t.tgisinternal",
            (SCHEMA,),
        ).fetchall()
    return {r[0] for r in rows}


def yoyo_url(dsn: str) -> str:
    """The libpq DSN as a yoyo URL; connection options travel as query arguments."""
    params = {k: v for k, v in conninfo_to_dict(dsn).items() if v is not None}
    dbname = str(params.pop("dbname"))
    query = urlencode({k: str(v) for k, v in params.items()})
    return f"postgresql+psycopg:///{quote(dbname, safe='')}" + (f"?{query}" if query else "")


def yoyo_executable() -> str:
    candidate = Path(sys.executable).parent / "yoyo"
    return str(candidate) if candidate.exists() else "yoyo"


# --------------------------------------------------------------------------- apply / re-apply


def test_migrate_applies_every_migration_in_order(server: Any, fresh_db: str) -> None:
    expected = migration_ids()
    assert expected[:3] == ["0001.schema", "0002.functions", "0003.release-job"]

    assert pyrelease.migrate(fresh_db) == expected

    assert applied(fresh_db) == expected
    assert schema_exists(fresh_db)
    assert set(plpgsql_files()) == installed_names(fresh_db)


def test_reapply_is_a_noop(fresh_db: str) -> None:
    pyrelease.migrate(fresh_db)
    before = snapshot(fresh_db)
    objects = user_objects(fresh_db)

    assert pyrelease.migrate(fresh_db) == []

    assert snapshot(fresh_db) == before
    assert user_objects(fresh_db) == objects
    assert applied(fresh_db) == migration_ids()


def test_rollback_all_removes_everything_and_reapply_is_identical(
    server: Any, fresh_db: str
) -> None:
    name = current_db(fresh_db)
    pristine = user_objects(fresh_db)
    ids = migration_ids()

    assert pyrelease.migrate(fresh_db) == ids
    first = snapshot(fresh_db)
    assert first["relations"], "the snapshot must see the schema"
    assert cron_jobs(server, name), "migrating registers the job"

    assert pyrelease.rollback(fresh_db, steps="all") == list(reversed(ids))

    assert not schema_exists(fresh_db)
    assert cron_jobs(server, name) == []
    assert applied(fresh_db) == []
    assert user_objects(fresh_db) == pristine

    assert pyrelease.migrate(fresh_db) == ids
    assert snapshot(fresh_db) == first
    assert len(cron_jobs(server, name)) == 2  # the release job and its purge job

    assert pyrelease.rollback(fresh_db, steps="all") == list(reversed(ids))
    assert cron_jobs(server, name) == []


def test_rollback_nothing_applied_returns_empty(fresh_db: str) -> None:
    assert pyrelease.rollback(fresh_db, steps="all") == []
    assert pyrelease.rollback(fresh_db, steps=1) == []


@pytest.mark.parametrize("steps", [0, -1, True, "1", 1.0, None])
def test_rollback_rejects_bad_steps(fresh_db: str, steps: Any) -> None:
    pyrelease.migrate(fresh_db)
    with pytest.raises(MigrationError, match="steps must be a positive integer"):
        pyrelease.rollback(fresh_db, steps=steps)
    assert applied(fresh_db) == migration_ids()
    pyrelease.rollback(fresh_db, steps="all")


def test_the_heartbeat_survives_a_rollback_and_an_upgrade(fresh_db: str) -> None:
    """0014 keeps the scheduled runs' heartbeat in one row: rolled back, it goes into the run
    log, where the rule before 0014 reads it; upgrading, it starts from the log's last
    scheduled run, so the rule sees no gap."""
    pyrelease.migrate(fresh_db, schedule=False)
    with connect_to(fresh_db) as conn:
        conn.execute("CALL real_estate.run_release_job()")
        beat = conn.execute(
            "SELECT started_at, finished_at FROM real_estate.release_heartbeat"
        ).fetchone()
    assert pyrelease.rollback(fresh_db, steps=1) == ["0014.release-heartbeat"]
    with connect_to(fresh_db) as conn:
        logged = conn.execute(
            "SELECT started_at, finished_at FROM real_estate.release_run WHERE source = 'pg_cron'"
        ).fetchall()
        assert logged == [beat]
        # the layout before 0014: each scheduled run writes a row
        conn.execute(
            "INSERT INTO real_estate.release_run (source, started_at, finished_at)"
            " VALUES ('pg_cron', now(), now() + interval '1 second')"
        )
        last = conn.execute(
            "SELECT started_at, finished_at FROM real_estate.release_run ORDER BY id DESC LIMIT 1"
        ).fetchone()
    pyrelease.migrate(fresh_db, schedule=False)
    with connect_to(fresh_db) as conn:
        assert conn.execute(
            "SELECT started_at, finished_at FROM real_estate.release_heartbeat"
        ).fetchall() == [last]


def test_rollback_one_step_at_a_time(server: Any, fresh_db: str) -> None:
    """Each step undoes exactly its own migration: the installed-source record (0006), the
    grants (0005), the index (0004), the job (0003), what the install put in from
    plpgsql/ (0002), the schema (0001)."""
    name = current_db(fresh_db)
    ids = migration_ids()
    pyrelease.migrate(fresh_db)
    with connect_to(fresh_db) as conn:
        conn.execute("CALL real_estate.run_release_job()")  # a heartbeat, and no run row
    tables = {"workspace", "project", "property", "release_run", "release_event"}

    for position in range(len(ids) - 1, -1, -1):
        mid = ids[position]
        routines_before = routine_names(fresh_db)
        jobs_before = cron_jobs(server, name)

        assert pyrelease.rollback(fresh_db, steps=1) == [mid]
        assert applied(fresh_db) == ids[:position]

        if mid == "0014.release-heartbeat":
            # the heartbeat goes back into the run log, where the rule before it reads it;
            # what plpgsql/ installed on it goes, to be reinstalled by the next migrate
            assert "release_heartbeat" not in relation_names(fresh_db)
            assert routine_names(fresh_db) == routines_before - {
                "release_health",
                "record_release_heartbeat",
            }
            with connect_to(fresh_db) as conn:
                assert conn.execute(
                    "SELECT source, finished_at IS NOT NULL FROM real_estate.release_run"
                ).fetchall() == [("pg_cron", True)]
                assert scalar(conn, "SELECT count(*) FROM real_estate.routine_source") == 0
                assert "timezone" not in [
                    c.name
                    for c in conn.execute("SELECT * FROM real_estate.release_schedule").description
                    or []
                ]
            assert cron_jobs(server, name) == jobs_before
        elif mid == "0013.release-event-purged":
            # the purge record goes, the routines stay (the next migrate reinstalls them)
            assert "release_event_purged" not in relation_names(fresh_db)
            assert routine_names(fresh_db) == routines_before
            with connect_to(fresh_db) as c:
                assert not scalar(
                    c,
                    "SELECT has_table_privilege('real_estate_monitor',"
                    " 'real_estate.release_event', 'SELECT')",
                )
        elif mid == "0012.monitoring":
            # the registration table and the health rule installed on it go; the job stays
            assert "release_schedule" not in relation_names(fresh_db)
            assert routine_names(fresh_db) == routines_before - {"release_health"}
            assert cron_jobs(server, name) == jobs_before
        elif mid == "0011.release-pick-index":
            assert "property_release_pick_idx" not in relation_names(fresh_db)
            assert "property_reserved_until_idx" in relation_names(fresh_db)
            assert routine_names(fresh_db) == routines_before
        elif mid == "0010.release-event-key":
            # The log's (id, workspace_id) index comes back (0009's state), and only it.
            assert "release_event_id_workspace_id_key" in relation_names(fresh_db)
            assert routine_names(fresh_db) == routines_before
        elif mid == "0009.distribution-keys":
            assert "release_event_id_workspace_id_key" not in relation_names(fresh_db)
            assert "property_id_workspace_id_key" not in relation_names(fresh_db)
            assert routine_names(fresh_db) == routines_before
        elif mid == "0006.routine-source":
            assert "routine_source" not in relation_names(fresh_db)
            assert routine_names(fresh_db) == routines_before
            assert cron_jobs(server, name) == jobs_before
        elif mid == "0005.roles":
            assert routine_names(fresh_db) == routines_before
            assert cron_jobs(server, name) == jobs_before
        elif mid == "0004.property-reserved-until-idx":
            assert "property_reserved_until_idx" not in relation_names(fresh_db)
            assert tables <= relation_names(fresh_db)
            assert routine_names(fresh_db) == routines_before
            assert cron_jobs(server, name) == jobs_before
        elif mid == "0003.release-job":
            assert jobs_before, "the job existed before its migration was rolled back"
            assert cron_jobs(server, name) == []
            assert routine_names(fresh_db) == routines_before  # only the job went
            assert trigger_names(fresh_db)
        elif mid == "0002.functions":
            assert installed_names(fresh_db) == set()
            assert trigger_names(fresh_db) == set()
            assert tables <= relation_names(fresh_db)
        elif mid == "0001.schema":
            assert not schema_exists(fresh_db)

    assert pyrelease.rollback(fresh_db, steps=1) == []


# --------------------------------------------------------------------------- concurrency


def test_concurrent_installs_apply_the_schema_once(server: Any, fresh_db: str) -> None:
    name = current_db(fresh_db)
    barrier = threading.Barrier(2)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def install() -> None:
        barrier.wait()
        try:
            results.append(pyrelease.migrate(fresh_db))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=install) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    assert sorted(results, key=len) == [[], migration_ids()]
    assert applied(fresh_db) == migration_ids()
    with connect_to(fresh_db) as conn:
        log = conn.execute(
            "SELECT migration_id, count(*) FROM public._yoyo_log"
            " WHERE operation = 'apply' GROUP BY 1 ORDER BY 1"
        ).fetchall()
        locks = conn.execute("SELECT count(*) FROM public.yoyo_lock").fetchone()
    assert log == [(mid, 1) for mid in migration_ids()]
    assert locks == (0,)
    assert len(cron_jobs(server, name)) == 2


def test_first_migration_racing_another_on_the_roles_succeeds(
    server: Any, template_db: str, fresh_db: str
) -> None:
    """Two first migrations on one server both saw no role; the second
    failed on pg_authid_rolname_index. Made deterministic: the server's roles are renamed
    away, a concurrent transaction creates real_estate_reader and commits only once the
    migration waits on it."""
    roles = ("real_estate_reader", "real_estate_app")
    with connect_to(server.admin_dsn) as admin:
        for r in roles:
            admin.execute(
                sql.SQL("ALTER ROLE {} RENAME TO {}").format(
                    sql.Identifier(r), sql.Identifier(f"{r}_aside")
                )
            )
        try:
            rival = psycopg.connect(server.admin_dsn)
            rival.execute("CREATE ROLE real_estate_reader NOLOGIN")
            errors: list[BaseException] = []

            def install() -> None:
                try:
                    pyrelease.migrate(fresh_db)
                except BaseException as exc:
                    errors.append(exc)

            thread = threading.Thread(target=install)
            thread.start()
            for _ in range(600):
                waiting = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                    " AND wait_event_type = 'Lock' AND query LIKE %s",
                    (current_db(fresh_db), "%real_estate_reader%"),
                ).fetchone()
                if waiting and waiting[0]:
                    break
                thread.join(0.1)
            rival.commit()
            rival.close()
            thread.join(120)
            assert errors == []
            assert applied(fresh_db) == migration_ids()
            pyrelease.rollback(fresh_db, steps="all")
        finally:
            drop_jobs(server, current_db(fresh_db))
            for r in roles:
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(r)))
                admin.execute(
                    sql.SQL("ALTER ROLE {} RENAME TO {}").format(
                        sql.Identifier(f"{r}_aside"), sql.Identifier(r)
                    )
                )


# --------------------------------------------------------------------------- failures


def test_failing_first_migration_leaves_nothing(server: Any, fresh_db: str) -> None:
    name = current_db(fresh_db)
    with connect_to(fresh_db) as conn:
        conn.execute("CREATE SCHEMA real_estate")

    with pytest.raises(MigrationError) as info:
        pyrelease.migrate(fresh_db)

    message = str(info.value)
    assert "\n" not in message
    assert 'schema "real_estate" already exists' in message
    assert applied(fresh_db) == []
    assert relation_names(fresh_db) == set()
    assert cron_jobs(server, name) == []
    with connect_to(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM public.yoyo_lock").fetchone() == (0,)
        conn.execute("DROP SCHEMA real_estate")

    assert pyrelease.migrate(fresh_db) == migration_ids()  # the lock was released
    pyrelease.rollback(fresh_db, steps="all")


def test_install_failing_half_way_keeps_nothing_of_itself(server: Any, fresh_db: str) -> None:
    """The install fails at its first CREATE TRIGGER, after it created functions:
    none stays (one transaction), the migrations stay applied, no job is registered, and
    migrating again once the obstacle is gone installs everything."""
    name = current_db(fresh_db)
    with connect_to(fresh_db) as conn:
        conn.execute(
            """
            CREATE FUNCTION public.pyrelease_test_refuse() RETURNS event_trigger
            LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'test refuses CREATE TRIGGER'; END $$
            """
        )
        conn.execute(
            "CREATE EVENT TRIGGER pyrelease_test_refuse ON ddl_command_start"
            " WHEN TAG IN ('CREATE TRIGGER') EXECUTE FUNCTION public.pyrelease_test_refuse()"
        )
    try:
        with pytest.raises(MigrationError, match="test refuses CREATE TRIGGER") as info:
            pyrelease.migrate(fresh_db)
        assert "\n" not in str(info.value)
        assert applied(fresh_db) == migration_ids()
        assert installed_names(fresh_db) == set()
        assert trigger_names(fresh_db) == set()
        assert cron_jobs(server, name) == []
    finally:
        with connect_to(fresh_db) as conn:
            conn.execute("DROP EVENT TRIGGER pyrelease_test_refuse")
            conn.execute("DROP FUNCTION public.pyrelease_test_refuse()")

    assert pyrelease.migrate(fresh_db) == []
    assert set(plpgsql_files()) == installed_names(fresh_db)
    assert cron_jobs(server, name) != []
    pyrelease.rollback(fresh_db, steps="all")


INDEX_MIGRATION = "0004.property-reserved-until-idx"


def test_failed_concurrent_index_build_is_repaired_by_the_next_migrate(fresh_db: str) -> None:
    """0004 is not transactional: a build cancelled half-way leaves an INVALID index and the
    migration unapplied; the next migrate drops it and builds a valid one."""
    ids = migration_ids()
    if INDEX_MIGRATION not in ids:
        pytest.skip(f"no migration {INDEX_MIGRATION}")
    pyrelease.migrate(fresh_db)
    pyrelease.rollback(fresh_db, steps=len(ids) - ids.index(INDEX_MIGRATION))
    assert applied(fresh_db) == ids[: ids.index(INDEX_MIGRATION)]

    with connect_to(fresh_db) as conn:
        workspace = make_workspace(conn)
    blocker = psycopg.connect(fresh_db)  # an open transaction that wrote to property
    try:
        make_properties(blocker, workspace, None, 1)
        timeout_dsn = psycopg.conninfo.make_conninfo(fresh_db, options="-c statement_timeout=1000")
        with pytest.raises(MigrationError, match="statement timeout"):
            pyrelease.migrate(timeout_dsn)
    finally:
        blocker.rollback()
        blocker.close()

    assert INDEX_MIGRATION not in applied(fresh_db)
    with connect_to(fresh_db) as conn:
        left = conn.execute(
            "SELECT indisvalid FROM pg_index"
            " WHERE indexrelid = to_regclass('real_estate.property_reserved_until_idx')"
        ).fetchall()
    assert left in ([(False,)], []), left

    assert pyrelease.migrate(fresh_db) == ids[ids.index(INDEX_MIGRATION) :]
    with connect_to(fresh_db) as conn:
        row = conn.execute(
            "SELECT indisvalid, pg_get_expr(indpred, indrelid) FROM pg_index"
            " WHERE indexrelid = 'real_estate.property_reserved_until_idx'::regclass"
        ).fetchone()
    assert row == (True, "(status = 'RESERVED'::text)")
    pyrelease.rollback(fresh_db, steps="all")


# --------------------------------------------------------------------------- drift / catalog


def test_migrations_carry_no_routine_text() -> None:
    """plpgsql/ is the only place a routine's, trigger's or view's text lives."""
    create = re.compile(
        r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|PROCEDURE|TRIGGER|VIEW)\b", re.IGNORECASE
    )
    found = [p.name for p in sorted(MIGRATIONS.iterdir()) if create.search(p.read_text())]
    assert found == []


def test_installed_routines_and_views_are_exactly_plpgsql_files(conn: Conn) -> None:
    """One object per plpgsql/ file, named after it, and re-running a file changes nothing."""
    files = plpgsql_files()
    query = (
        "SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid)"
        " FROM pg_proc AS p WHERE p.pronamespace = 'real_estate'::regnamespace"
        " UNION ALL SELECT c.oid::regclass::text, pg_get_viewdef(c.oid) FROM pg_class AS c"
        " WHERE c.relnamespace = 'real_estate'::regnamespace AND c.relkind = 'v'"
    )
    before = dict(conn.execute(query).fetchall())
    names = sorted(sig.removeprefix("real_estate.").split("(")[0] for sig in before)
    assert names == sorted(files), "one routine or view per plpgsql/ file, named after it"

    for path in files.values():
        conn.execute(path.read_text(encoding="utf-8").encode())

    assert dict(conn.execute(query).fetchall()) == before


def test_plpgsql_files_document_one_routine_named_after_the_file() -> None:
    files = plpgsql_files()
    assert files, "plpgsql/ holds the functions"
    create = re.compile(
        r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE|VIEW)\s+real_estate\.(\w+)\b",
        re.IGNORECASE | re.MULTILINE,
    )
    for stem, path in files.items():
        text = path.read_text(encoding="utf-8")
        first = text.splitlines()[0]
        assert first.startswith((f"-- real_estate.{stem}(", f"-- real_estate.{stem}:")), (
            f"{path.name}: {first!r}"
        )
        assert [m.group(2) for m in create.finditer(text)] == [stem], path.name


def test_in_parameters_are_prefixed_p(conn: Conn) -> None:
    rows = conn.execute(
        "SELECT p.proname, p.proargnames, p.proargmodes::text[], p.pronargs"
        " FROM pg_proc AS p WHERE p.pronamespace = 'real_estate'::regnamespace"
    ).fetchall()
    assert rows
    offenders = []
    for name, argnames, argmodes, nargs in rows:
        names = argnames or []
        modes = argmodes or ["i"] * len(names)
        ins = [arg for arg, mode in zip(names, modes, strict=True) if mode in ("i", "b", "v")]
        assert len(ins) == nargs, f"{name}: every IN parameter has a name"
        offenders += [f"{name}({arg})" for arg in ins if not arg.startswith("p_")]
    assert offenders == []


def test_named_constraints_and_indexes_exist(conn: Conn) -> None:
    index = conn.execute(
        "SELECT pg_get_expr(x.indpred, x.indrelid), x.indisvalid, x.indisready,"
        " pg_get_indexdef(x.indexrelid)"
        " FROM pg_index AS x"
        " WHERE x.indexrelid = 'real_estate.property_reserved_until_idx'::regclass"
    ).fetchone()
    assert index is not None
    predicate, valid, ready, definition = index
    assert predicate == "(status = 'RESERVED'::text)"
    assert valid and ready
    assert "ON real_estate.property USING btree (reserved_until)" in definition

    constraints = dict(
        conn.execute(
            "SELECT conname, contype FROM pg_constraint"
            " WHERE conrelid = 'real_estate.property'::regclass"
        ).fetchall()
    )
    assert constraints["property_reservation_check"] == "c"
    for name, kind in {
        "property_pkey": "p",
        "property_status_check": "c",
        "property_workspace_id_fkey": "f",
        "property_project_id_fkey": "f",
    }.items():
        assert constraints.get(name) == kind, name
    check = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conname = 'property_reservation_check'"
        " AND conrelid = 'real_estate.property'::regclass"
    ).fetchone()
    assert check is not None
    assert "reserved_by_id IS NOT NULL" in check[0]
    assert "reserved_until IS NOT NULL" in check[0]


def test_public_cannot_execute_any_routine(conn: Conn) -> None:
    conn.execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pyrelease_nobody')"
        " THEN CREATE ROLE pyrelease_nobody NOLOGIN; END IF; END $$"
    )
    try:
        rows = conn.execute(
            "SELECT p.oid::regprocedure::text,"
            " has_function_privilege('pyrelease_nobody', p.oid, 'EXECUTE'),"
            " has_function_privilege('public', p.oid, 'EXECUTE'),"
            " coalesce(p.proacl::text, '')"
            " FROM pg_proc AS p WHERE p.pronamespace = 'real_estate'::regnamespace"
        ).fetchall()
        assert rows
        for signature, nobody, public, acl in rows:
            assert not nobody, signature
            assert not public, signature
            assert not re.search(r"[{,]=", acl), f"{signature}: PUBLIC entry in {acl}"
    finally:
        conn.execute("DROP ROLE IF EXISTS pyrelease_nobody")


def test_every_function_pins_its_search_path(conn: Conn) -> None:
    rows = conn.execute(
        "SELECT p.proname, p.prokind, p.proconfig, p.prosecdef"
        " FROM pg_proc AS p WHERE p.pronamespace = 'real_estate'::regnamespace"
    ).fetchall()
    procedures = [name for name, kind, _, _ in rows if kind == "p"]
    assert sorted(procedures) == ["run_release_job"]
    for name, kind, config, secdef in rows:
        if kind == "p":
            assert not secdef, "a procedure that commits cannot be SECURITY DEFINER"
            continue
        settings = [c for c in config or [] if c.startswith("search_path=")]
        assert settings, f"{name} has no pinned search_path"
        assert settings[0].startswith("search_path=pg_catalog"), (name, settings)


# --------------------------------------------------------------------------- yoyo / wheel


def test_yoyo_command_line_gives_the_same_database(server: Any, fresh_db: str) -> None:
    yoyo_name = current_db(fresh_db)
    with extra_database(server, tag="ref") as ref_name:
        ref = server.dsn_for(ref_name)
        pyrelease.migrate(ref)

        env = dict(os.environ)
        env.pop("DATABASE_URL", None)
        done = subprocess.run(
            [
                yoyo_executable(),
                *("apply", "--batch", "-c", str(REPO / "yoyo.ini")),
                *("--database", yoyo_url(fresh_db)),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr

        assert applied(fresh_db) == [*migration_ids(), marker_id()]
        assert applied(ref) == migration_ids()
        assert snapshot(fresh_db) == snapshot(ref)
        own = [row[2:] for row in cron_jobs(server, yoyo_name) if row[1] == f"{JOB}:{yoyo_name}"]
        other = [row[2:] for row in cron_jobs(server, ref_name) if row[1] == f"{JOB}:{ref_name}"]
        assert [r[:2] + r[3:] for r in own] == [r[:2] + r[3:] for r in other]
        assert own[0][2] == yoyo_name

        pyrelease.rollback(ref, steps="all")
    pyrelease.rollback(fresh_db, steps="all")
    assert cron_jobs(server, yoyo_name) == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    wheels = list(out.glob("pyrelease-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_ships_the_sql(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for required in (
        "pyrelease/_sql/migrations/0001.schema.sql",
        "pyrelease/_sql/plpgsql/release_batch.sql",
        "pyrelease/_sql/monitoring/postgres_exporter.yml",
        "pyrelease/_sql/monitoring/alerts.yml",
        "pyrelease/queries.sql",
    ):
        assert required in names
    for path in MIGRATIONS.iterdir():
        assert f"pyrelease/_sql/migrations/{path.name}" in names
    for path in PLPGSQL.glob("*.sql"):
        assert f"pyrelease/_sql/plpgsql/{path.name}" in names


def test_installed_wheel_migrates_from_anywhere(
    wheel: Path, tmp_path: Path, server: Any, fresh_db: str
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr

    located = subprocess.run(
        [str(python), "-c", "from pyrelease.queries import sql_dir; print(sql_dir('plpgsql'))"],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(located.stdout.strip()).is_relative_to(venv), located.stdout

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    migrate = subprocess.run(
        [str(venv / "bin" / "pyrelease"), "--dsn", fresh_db, "migrate"],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert migrate.stdout.strip() == "applied " + ", ".join(migration_ids())
    assert applied(fresh_db) == migration_ids()
    assert set(plpgsql_files()) == installed_names(fresh_db)
    status = subprocess.run(  # the health rule's body and the migrations, read from the wheel
        [str(venv / "bin" / "pyrelease"), "--dsn", fresh_db, "status", "--json"],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["pending_migrations"] == []

    back = subprocess.run(
        [str(venv / "bin" / "pyrelease"), "--dsn", fresh_db, "rollback", "--all"],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert back.returncode == 0, back.stderr
    assert not schema_exists(fresh_db)
    assert cron_jobs(server, current_db(fresh_db)) == []

    # The README's yoyo path, exactly, from the installed wheel (no yoyo.ini anywhere).
    folder = subprocess.run(
        [str(python), "-c", "import pyrelease; print(pyrelease.migrations_dir())"],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(folder).is_relative_to(venv), folder
    yoyo = subprocess.run(
        [
            str(venv / "bin" / "yoyo"),
            "apply",
            "--batch",
            "--no-config-file",
            "--database",
            yoyo_url(fresh_db),
            folder,
        ],
        cwd="/",
        env={**env, "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert yoyo.returncode == 0, yoyo.stderr
    assert applied(fresh_db) == [*migration_ids(), marker_id()]
    assert set(plpgsql_files()) == installed_names(fresh_db)
    pyrelease.rollback(fresh_db, steps="all")
    assert cron_jobs(server, current_db(fresh_db)) == []


# --------------------------------------------------------------------------- install marker


def marker_id() -> str:
    """The id of the committed install marker."""
    [marker] = [p.stem for p in MIGRATIONS.glob("install.*.py")]
    return marker


def test_committed_install_marker_matches_plpgsql_and_the_migrations() -> None:
    """`yoyo apply` installs a release's routines only through a new marker: a change to
    plpgsql/ or to the numbered migrations must come with the marker `make schema` writes."""
    name, text = install_marker(MIGRATIONS, PLPGSQL)
    committed = sorted(p.name for p in MIGRATIONS.glob("install.*"))
    assert committed == [name], "run `make schema` and commit the install marker it writes"
    assert (MIGRATIONS / name).read_text() == text, "run `make schema`: the marker was edited"


PROBE = """\
-- real_estate.upgrade_probe(): which release of plpgsql/ is installed (a test's routine).
CREATE OR REPLACE FUNCTION real_estate.upgrade_probe()
RETURNS integer
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$ SELECT {release} $$;
"""


def package_tree(tmp_path: Path, release: int) -> Path:
    """A release of the package (pyrelease/, migrations/, plpgsql/) whose plpgsql/ holds one
    more routine, real_estate.upgrade_probe(), returning `release`, with the install marker
    that `make schema` writes for it."""
    tree = tmp_path / f"release-{release}"
    for folder in ("pyrelease", "migrations", "plpgsql"):
        shutil.copytree(REPO / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "plpgsql" / "upgrade_probe.sql").write_text(PROBE.format(release=release))
    write_install_marker(tree / "migrations", tree / "plpgsql")
    return tree


def run_release(tree: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """A command with that release of pyrelease on the path."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PYTHONPATH"] = str(tree)
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def yoyo_apply(tree: Path, dsn: str) -> subprocess.CompletedProcess[str]:
    """`yoyo apply` of that release's migrations/, as a DBA runs it."""
    command = ("apply", "--batch", "--no-config-file", "-v", "--database", yoyo_url(dsn))
    return run_release(tree, "yoyo", *command, str(tree / "migrations"))


def tree_marker(tree: Path) -> str:
    """The id of that release's install marker."""
    [marker] = [p.stem for p in (tree / "migrations").glob("install.*.py")]
    return marker


def probe(dsn: str) -> int:
    """What the installed real_estate.upgrade_probe() returns."""
    with connect_to(dsn) as conn:
        return int(scalar(conn, "SELECT real_estate.upgrade_probe()"))


@pytest.mark.parametrize("installed_by", ["yoyo", "pyrelease"])
def test_yoyo_apply_upgrades_the_routines_of_a_release_without_numbered_migration(
    server: Any, fresh_db: str, tmp_path: Path, installed_by: str
) -> None:
    """A database at the previous release's routines (installed by `yoyo apply` or by
    `pyrelease migrate`); the next release changes plpgsql/ and brings no numbered
    migration: `yoyo apply` installs its routines."""
    previous, upgraded = package_tree(tmp_path, release=1), package_tree(tmp_path, release=2)
    assert tree_marker(previous) != tree_marker(upgraded)
    if installed_by == "yoyo":
        done = yoyo_apply(previous, fresh_db)
    else:
        done = run_release(previous, "pyrelease.cli", "--dsn", fresh_db, "migrate")
    assert done.returncode == 0, done.stderr
    assert probe(fresh_db) == 1
    jobs = cron_jobs(server, current_db(fresh_db))
    assert len(jobs) == 2

    done = yoyo_apply(upgraded, fresh_db)

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert probe(fresh_db) == 2, "yoyo apply left the previous release's routines"
    # the previous release's marker, if yoyo recorded one, is forgotten
    assert applied(fresh_db) == [*migration_ids(), tree_marker(upgraded)]
    assert cron_jobs(server, current_db(fresh_db)) == jobs
    done = yoyo_apply(upgraded, fresh_db)
    assert (done.returncode, applied(fresh_db)) == (0, [*migration_ids(), tree_marker(upgraded)])

    # Any rollback forgets the marker: the next `yoyo apply` runs it again.
    assert pyrelease.rollback(fresh_db) == [migration_ids()[-1]]
    assert applied(fresh_db) == migration_ids()[:-1]
    assert yoyo_apply(upgraded, fresh_db).returncode == 0
    assert applied(fresh_db) == [*migration_ids(), tree_marker(upgraded)]
    assert pyrelease.rollback(fresh_db, steps="all") == list(reversed(migration_ids()))
    assert applied(fresh_db) == []
    assert cron_jobs(server, current_db(fresh_db)) == []


@contextmanager
def job_refused(server: Any, dbname: str) -> Iterator[None]:
    """pg_cron refuses every job of `dbname` (a trigger on cron.job raises)."""
    name = f"pyrelease_test_refuse_{uuid.uuid4().hex[:8]}"
    with connect_to(server.dsn_for(server.cron_database)) as c:
        c.execute(
            sql.SQL(
                "CREATE FUNCTION public.{name}() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'the test refuses jobs of %', NEW.database; END $$;"
                " CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON cron.job FOR EACH ROW"
                " WHEN (NEW.database = {dbname}) EXECUTE FUNCTION public.{name}()"
            ).format(name=sql.Identifier(name), dbname=sql.Literal(dbname))
        )
    try:
        yield
    finally:
        with connect_to(server.dsn_for(server.cron_database)) as c:
            c.execute(sql.SQL("DROP TRIGGER {} ON cron.job").format(sql.Identifier(name)))
            c.execute(sql.SQL("DROP FUNCTION public.{}()").format(sql.Identifier(name)))


def test_yoyo_apply_fails_as_migrate_does_when_pg_cron_refuses_the_job(
    server: Any, fresh_db: str
) -> None:
    """The same error from `yoyo apply` and `pyrelease migrate`, the same state after it (the
    migrations and routines in, no job), and the next run, once the cause is gone, finishes
    the install: under yoyo, the marker stays pending until its step succeeds."""
    name = current_db(fresh_db)
    apply = ("apply", "--batch", "-c", str(REPO / "yoyo.ini"), "--database", yoyo_url(fresh_db))
    with job_refused(server, name):
        done = run_release(REPO, "yoyo", *apply)
        assert done.returncode == 1, done.stderr
        yoyo_error = done.stderr.strip().splitlines()[-1]
        assert applied(fresh_db) == migration_ids()  # the marker is still pending
        assert set(plpgsql_files()) == installed_names(fresh_db)
        assert cron_jobs(server, name) == []

        done = run_release(REPO, "pyrelease.cli", "--dsn", fresh_db, "migrate")
        assert done.returncode == 1, done.stderr
        [migrate_error] = done.stderr.splitlines()

    message = migrate_error.removeprefix("pyrelease: error: ")
    assert "release job could not be registered" in message
    assert "the test refuses jobs of" in message
    assert yoyo_error == f"pyrelease.errors.MigrationError: {message}"
    assert applied(fresh_db) == migration_ids()
    assert cron_jobs(server, name) == []

    done = run_release(REPO, "yoyo", *apply)
    assert done.returncode == 0, done.stderr
    assert applied(fresh_db) == [*migration_ids(), marker_id()]
    assert len(cron_jobs(server, name)) == 2
    pyrelease.rollback(fresh_db, steps="all")
    assert cron_jobs(server, name) == []
