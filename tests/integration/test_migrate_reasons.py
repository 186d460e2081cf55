"""migrate says what really stopped it: a read-only connection is not a stale lock, a
statement_timeout is not a missing yoyo table, a concurrent index build is no transaction, a
refusal keeps its hint; and what it did when no migration was pending."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from factories import connect_to, make_properties, make_workspace, migration_ids, scalar

import pyrelease


def migrate(dsn: str, pgoptions: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PGOPTIONS"] = pgoptions
    return subprocess.run(
        [sys.executable, "-m", "pyrelease.cli", "--dsn", dsn, "migrate"],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("migrated", [False, True], ids=["empty database", "migrated database"])
def test_read_only_connection(fresh_db: str, db: str, migrated: bool) -> None:
    dsn = db if migrated else fresh_db
    line = one_line(migrate(dsn, "-c default_transaction_read_only=on"))
    assert "read-only" in line, line
    assert "break-lock" not in line and "locked" not in line, line


@pytest.mark.parametrize("migrated", [False, True], ids=["empty database", "migrated database"])
def test_low_statement_timeout(fresh_db: str, db: str, migrated: bool) -> None:
    dsn = db if migrated else fresh_db
    line = one_line(migrate(dsn, "-c statement_timeout=1"))
    assert "statement timeout" in line, line
    assert "does not exist" not in line and "break-lock" not in line, line
    with connect_to(dsn) as c:
        assert scalar(c, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")


def test_a_real_stale_lock_still_says_break_lock(db: str) -> None:
    with connect_to(db) as c:
        c.execute("INSERT INTO public.yoyo_lock (locked, ctime, pid) VALUES (1, now(), 4242)")
    line = one_line(migrate(db, ""))
    assert "4242" in line and "--break-lock" in line, line


def test_lock_table_creation_cancelled_once(fresh_db: str) -> None:
    """What a low statement_timeout did now and then (seen in CI): yoyo's creation of its
    lock table was cancelled, yoyo ignored that, and migrate then reported the missing
    table instead of the cancellation. Here an event trigger cancels that creation exactly
    once, so the case no longer depends on timing."""
    with connect_to(fresh_db) as c:
        c.execute(
            """
            CREATE SEQUENCE public.cancel_once;
            CREATE FUNCTION public.cancel_once() RETURNS event_trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF current_query() ILIKE '%yoyo_lock%' AND nextval('public.cancel_once') = 1 THEN
                    RAISE EXCEPTION 'canceling statement due to statement timeout'
                        USING ERRCODE = 'query_canceled';
                END IF;
            END $$;
            CREATE EVENT TRIGGER cancel_once ON ddl_command_start
                WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION public.cancel_once();
            """
        )
    line = one_line(migrate(fresh_db, ""))
    assert "statement timeout" in line, line
    assert "does not exist" not in line and "break-lock" not in line, line
    with connect_to(fresh_db) as c:
        assert scalar(c, "SELECT to_regclass('public._yoyo_migration') IS NULL")


def test_cancelled_statement_in_a_migrated_database(db: str) -> None:
    """What a low statement_timeout also did (seen in CI): PostgreSQL reported the timeout
    as "canceling statement due to user request" (its timeout indicator races with the next
    statement), on a query outside the migration steps, and migrate printed it bare. Here
    yoyo's read of its migration table is cancelled that way every time: the line must
    still name the statement timeout and how to raise it."""
    with connect_to(db) as c:
        c.execute(
            """
            CREATE FUNCTION public.cancel_me() RETURNS boolean LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_cancel_backend(pg_backend_pid());
                PERFORM pg_sleep(5);
                RETURN true;
            END $$;
            ALTER TABLE public._yoyo_migration RENAME TO yoyo_migration_kept;
            CREATE VIEW public._yoyo_migration AS
                SELECT * FROM public.yoyo_migration_kept WHERE public.cancel_me();
            """
        )
    line = one_line(migrate(db, ""))
    assert "user request" in line and "statement timeout" in line, line
    assert "statement_timeout=0" in line, line


def cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyrelease.cli", "--dsn", dsn, *args],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_concurrent_index_build_that_fails_says_what_it_leaves(fresh_db: str) -> None:
    """A CONCURRENTLY build is no transaction: giving up, it leaves an INVALID index that the
    next migrate drops and rebuilds. The message said 'a transactional migration was rolled
    back whole'."""
    ids = migration_ids()
    pyrelease.migrate(fresh_db, schedule=False)
    pyrelease.rollback(fresh_db, steps=len(ids) - ids.index("0004.property-reserved-until-idx"))
    with connect_to(fresh_db) as conn:
        workspace = make_workspace(conn)
    blocker = psycopg.connect(fresh_db)  # an open transaction that wrote to property
    try:
        make_properties(blocker, workspace, None, 1)
        line = one_line(migrate(fresh_db, "-c statement_timeout=1000"))
    finally:
        blocker.rollback()
        blocker.close()
    assert "0004.property-reserved-until-idx" in line, line
    assert "rolled back whole" not in line, line
    assert "not transactional" in line and "INVALID index" in line, line
    assert "run `pyrelease migrate` again" in line, line
    pyrelease.migrate(fresh_db, schedule=False)  # and so it is: rebuilt
    pyrelease.rollback(fresh_db, steps="all")


def test_a_refused_rollback_keeps_its_hint(fresh_db: str) -> None:
    """0007's rollback refuses while cancelled events exist, with a HINT saying how to delete
    them if they may go: the one line dropped it."""
    pyrelease.migrate(fresh_db, schedule=False)
    with connect_to(fresh_db) as conn:
        workspace = make_workspace(conn)
        [prop] = make_properties(conn, workspace, None, 1, "RESERVED", expired=False)
        holder = scalar(
            conn, "SELECT reserved_by_id FROM real_estate.property WHERE id = %s", (prop,)
        )
        assert pyrelease.cancel(conn, prop, holder) is True
    ids = migration_ids()
    steps = len(ids) - ids.index("0007.release-event-reason")
    line = one_line(cli(fresh_db, "rollback", "--steps", str(steps)))
    assert "cannot roll back 0007" in line, line
    assert "DELETE FROM real_estate.release_event WHERE reason <> 'expired'" in line, line
    assert "run `pyrelease rollback` again" in line, line
    with connect_to(fresh_db) as conn:
        conn.execute("DELETE FROM real_estate.release_event WHERE reason <> 'expired'")
    pyrelease.rollback(fresh_db, steps="all")


def test_migrate_says_what_it_did_when_no_migration_was_pending(db: str) -> None:
    """With nothing to apply, migrate said 'already up to date' even when it re-created the
    routines (their source changed) or registered the release job."""
    with connect_to(db) as conn:
        conn.execute("UPDATE real_estate.routine_source SET sha256 = 'an older release'")
    done = cli(db, "migrate", "--no-schedule")
    assert done.returncode == 0, done.stderr
    assert "already up to date" not in done.stdout, done.stdout
    assert "re-created the routines" in done.stdout, done.stdout
    done = cli(db, "migrate", "--no-schedule")
    assert (done.returncode, done.stdout) == (0, "already up to date\n"), done.stderr
