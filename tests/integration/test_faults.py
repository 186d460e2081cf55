"""Faults: the release backend killed mid-run, the server stopped (immediate) mid-run, an
application transaction holding rows for a long time, migration DDL behind a long
transaction, a row that cannot be released, a migration killed half-way (yoyo's lock row),
and `pyrelease status --check` as a health probe."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from factories import (
    Conn,
    add_failing_trigger,
    connect_to,
    installed_ago,
    make_project,
    make_properties,
    make_workspace,
    scalar,
)
from psycopg import sql
from psycopg.conninfo import make_conninfo

import pyrelease
from pyrelease import MigrationError, cron
from pyrelease.cli import main

Connect = Callable[..., Conn]

REPO = Path(__file__).resolve().parents[2]
PGCLUSTER = REPO / "scripts" / "pgcluster.sh"
PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))
RUN_JOB = "CALL real_estate.run_release_job(p_batch_size => %s)"
RELEASE = "SELECT real_estate.release_expired_reservations(%s)"


# --------------------------------------------------------------------------- helpers


def make_backlog(conn: Conn, n: int, projects: int = 10) -> list[uuid.UUID]:
    """n expired reservations (one ACTIVE workspace, `projects` projects, oldest first);
    return the project ids."""
    ws = make_workspace(conn)
    project_ids = [make_project(conn, ws, f"project {i}") for i in range(projects)]
    conn.execute(
        """
        INSERT INTO real_estate.property
            (workspace_id, project_id, name, status, reserved_by_id, reserved_until)
        SELECT %(ws)s, (%(projects)s::uuid[])[1 + g %% %(k)s], 'plot ' || g, 'RESERVED',
               gen_random_uuid(), now() - interval '1 hour' + g * interval '1 ms'
          FROM generate_series(1, %(n)s) AS g
        """,
        {"ws": ws, "projects": project_ids, "k": projects, "n": n},
    )
    return project_ids


def release_states(conn: Conn) -> dict[tuple[str, int], int]:
    """(status, number of release events of the property) -> number of properties."""
    rows = conn.execute(
        """
        SELECT p.status, coalesce(e.n, 0)::integer, count(*)::integer
          FROM real_estate.property AS p
          LEFT JOIN (SELECT property_id, count(*) AS n
                       FROM real_estate.release_event GROUP BY property_id) AS e
                 ON e.property_id = p.id
         GROUP BY 1, 2
        """
    ).fetchall()
    return {(r[0], r[1]): r[2] for r in rows}


def violations(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM real_estate.check_invariants()").fetchall()


def backlog(conn: Conn) -> int:
    return int(scalar(conn, "SELECT expired_reservations FROM real_estate.release_backlog"))


def runs(conn: Conn) -> list[tuple[Any, ...]]:
    """(id, source, finished_at, released, failed, error) of every run, oldest first."""
    return conn.execute(
        "SELECT id, source, finished_at, released, failed, error"
        " FROM real_estate.release_run ORDER BY id"
    ).fetchall()


def events_of(conn: Conn, run_id: int) -> int:
    return int(
        scalar(conn, "SELECT count(*) FROM real_estate.release_event WHERE run_id = %s", (run_id,))
    )


def status_of(conn: Conn, property_id: uuid.UUID) -> str:
    return str(
        scalar(conn, "SELECT status FROM real_estate.property WHERE id = %s", (property_id,))
    )


def applied(dsn: str) -> list[str]:
    with connect_to(dsn) as conn:
        rows = conn.execute(
            "SELECT migration_id FROM public._yoyo_migration ORDER BY migration_id"
        ).fetchall()
    return [r[0] for r in rows]


def property_triggers(dsn: str) -> list[str]:
    with connect_to(dsn) as conn:
        rows = conn.execute(
            "SELECT tgname::text FROM pg_trigger"
            " WHERE tgrelid = to_regclass('real_estate.property') AND NOT tgisinternal"
            " ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def routines(dsn: str) -> list[str]:
    with connect_to(dsn) as conn:
        rows = conn.execute(
            "SELECT p.proname::text FROM pg_proc AS p JOIN pg_namespace AS n"
            " ON n.oid = p.pronamespace WHERE n.nspname = 'real_estate' ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def index_state(dsn: str) -> bool | None:
    """Whether real_estate.property_reserved_until_idx is valid (None: it does not exist)."""
    with connect_to(dsn) as conn:
        row = conn.execute(
            "SELECT i.indisvalid FROM pg_index AS i"
            " WHERE i.indexrelid = to_regclass('real_estate.property_reserved_until_idx')"
        ).fetchone()
    return None if row is None else bool(row[0])


def unschedule_quietly(dsn: str) -> None:
    with contextlib.suppress(psycopg.Error, pyrelease.PyreleaseError), connect_to(dsn) as conn:
        cron.unschedule(conn)


def wait_until_gone(conn: Conn, pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not scalar(conn, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)):
            return
        time.sleep(0.05)
    raise AssertionError(f"backend {pid} still there after {timeout} s")


@dataclass
class Outcome:
    """What a call made in a thread returned or raised, and how long it took."""

    value: Any = None
    error: BaseException | None = None
    seconds: float | None = None


def in_thread(func: Callable[[], Any]) -> tuple[threading.Thread, Outcome]:
    outcome = Outcome()

    def target() -> None:
        started = time.monotonic()
        try:
            outcome.value = func()
        except BaseException as exc:
            outcome.error = exc
        finally:
            outcome.seconds = time.monotonic() - started

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def cron_connection(conn: Conn, job: cron.Job) -> Conn:
    """A connection to pg_cron's database, with conn's login."""
    info = conn.info
    return connect_to(
        make_conninfo(info.dsn, dbname=job.cron_database, password=info.password or None)
    )


# --------------------------------------------------------------------------- backend killed


def test_release_backend_killed_mid_run_keeps_committed_batches(
    conn: Conn, connect: Connect
) -> None:
    total, batch = 50_000, 500
    make_backlog(conn, total)
    worker = connect(autocommit=True)
    pid = worker.info.backend_pid
    thread, outcome = in_thread(lambda: worker.execute(RUN_JOB, (batch,)))

    deadline = time.monotonic() + 60
    seen = None
    while time.monotonic() < deadline and thread.is_alive():
        seen = conn.execute(
            "SELECT id, released FROM real_estate.release_run"
            " WHERE source = 'pg_cron' AND finished_at IS NULL AND released > 0"
        ).fetchone()
        if seen:
            break
        time.sleep(0.002)
    assert seen, "no batch of the run was seen committed"
    assert scalar(conn, "SELECT pg_terminate_backend(%s)", (pid,))
    thread.join(30)
    wait_until_gone(conn, pid)

    assert not thread.is_alive()
    assert isinstance(outcome.error, psycopg.OperationalError), outcome
    [(run_id, source, finished_at, released, failed, error)] = runs(conn)
    assert (source, finished_at, failed, error) == ("pg_cron", None, 0, None)  # visibly unfinished
    assert 0 < released < total
    assert released % batch == 0  # whole batches only: the one in flight was rolled back
    assert events_of(conn, run_id) == released
    assert release_states(conn) == {("AVAILABLE", 1): released, ("RESERVED", 0): total - released}
    assert violations(conn) == []
    assert backlog(conn) == total - released

    conn.execute(RUN_JOB, (batch,))

    first, second = runs(conn)
    assert first == (run_id, "pg_cron", None, released, 0, None)  # stays as it was left
    assert second[1:] == ("pg_cron", second[2], total - released, 0, None)
    assert second[2] is not None
    assert backlog(conn) == 0
    assert release_states(conn) == {("AVAILABLE", 1): total}
    assert violations(conn) == []


# --------------------------------------------------------------------------- rows held elsewhere


def run_release(conn: Conn, how: str, batch: int = 50) -> int | None:
    """Release through the function (returns its count) or the procedure (None)."""
    if how == "function":
        return int(scalar(conn, RELEASE, (batch,)))
    conn.execute(RUN_JOB, (batch,))
    return None


@pytest.mark.parametrize("how", ["function", "procedure"])
def test_rows_held_by_a_long_transaction_are_skipped_not_waited_for(
    conn: Conn, connect: Connect, how: str
) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    ids = make_properties(conn, ws, project, 200, status="RESERVED")  # all expired
    held = ids[::10]  # 20 rows, spread over the oldest-first order
    holder = connect(autocommit=False)
    holder.execute(
        "SELECT id FROM real_estate.property WHERE id = ANY (%s) FOR UPDATE", (held,)
    ).fetchall()
    releaser = connect(autocommit=True)
    releaser.execute("SET lock_timeout = '1s'")
    releaser.execute("SET statement_timeout = '5s'")

    started = time.monotonic()
    count = run_release(releaser, how)
    elapsed = time.monotonic() - started

    assert elapsed < 1.0  # nothing waited (a wait would have hit lock_timeout anyway)
    if count is not None:
        assert count == 180
    [(_, _, finished_at, released, failed, error)] = runs(conn)
    assert (released, failed, error) == (180, 0, None)
    assert finished_at is not None
    assert {status_of(conn, p) for p in held} == {"RESERVED"}
    assert release_states(conn) == {("AVAILABLE", 1): 180, ("RESERVED", 0): 20}
    assert violations(conn) == []

    holder.rollback()  # the application lets go: the next run takes them
    run_release(releaser, how)
    assert release_states(conn) == {("AVAILABLE", 1): 200}
    assert [r[3] for r in runs(conn)] == [180, 20]
    assert violations(conn) == []


def test_call_that_finds_only_held_rows_writes_no_run(conn: Conn, connect: Connect) -> None:
    ws = make_workspace(conn)
    ids = make_properties(conn, ws, make_project(conn, ws), 3, status="RESERVED")
    holder = connect(autocommit=False)
    holder.execute(
        "SELECT id FROM real_estate.property WHERE id = ANY (%s) FOR UPDATE", (ids,)
    ).fetchall()

    assert [run_release(conn, "function") for _ in range(3)] == [0, 0, 0]

    assert runs(conn) == []
    holder.rollback()


@pytest.mark.parametrize("how", ["function", "procedure"])
def test_project_counter_held_by_a_long_transaction_does_not_stall_the_release(
    conn: Conn, connect: Connect, how: str
) -> None:
    ws = make_workspace(conn)
    busy, other = make_project(conn, ws, "busy"), make_project(conn, ws, "other")
    busy_rows = make_properties(conn, ws, busy, 20, status="RESERVED")
    other_rows = make_properties(conn, ws, other, 20, status="RESERVED")
    [listed] = make_properties(conn, ws, busy, 1)
    seller = connect(autocommit=False)
    # An application sells a listed property of the busy project and keeps its
    # transaction open: that takes the busy project's counter row until it commits.
    seller.execute("UPDATE real_estate.property SET status = 'SOLD' WHERE id = %s", (listed,))
    releaser = connect(autocommit=True)
    releaser.execute("SET lock_timeout = '1s'")
    releaser.execute("SET statement_timeout = '3s'")

    try:
        started = time.monotonic()
        run_release(releaser, how)
        elapsed = time.monotonic() - started

        assert elapsed < 1.0
        assert {status_of(conn, p) for p in other_rows} == {"AVAILABLE"}
        assert {status_of(conn, p) for p in busy_rows} == {"RESERVED"}  # left for the next run
    finally:
        seller.rollback()
    run_release(releaser, how)
    assert release_states(conn) == {("AVAILABLE", 1): 40, ("AVAILABLE", 0): 1}
    assert violations(conn) == []


# --------------------------------------------------------------------------- migrations vs locks


def at_migration(dsn: str, keep: int) -> None:
    """Migrate dsn fully, then roll back to its first `keep` migrations (no job left)."""
    pyrelease.migrate(dsn)
    pyrelease.rollback(dsn, len(applied(dsn)) - keep)
    unschedule_quietly(dsn)


def hold_lock(dsn: str, mode: str) -> Conn:
    """A long application transaction holding `mode` on real_estate.property (ACCESS SHARE:
    a read; ROW EXCLUSIVE: an INSERT/UPDATE/DELETE not yet committed)."""
    blocker = connect_to(dsn, autocommit=False)
    blocker.execute(sql.SQL("LOCK TABLE real_estate.property IN {} MODE").format(sql.SQL(mode)))
    return blocker


def run_blocked(
    calls: dict[str, Callable[[], Any]], blockers: list[Conn], bound: float
) -> dict[str, Outcome]:
    """Run the calls in threads while the blockers hold their locks; after `bound` seconds
    end the blockers (so that no call is left queued) and wait for every call. A call still
    running at `bound` comes back as Outcome(value="still waiting", seconds=None)."""
    started = {name: in_thread(func) for name, func in calls.items()}
    deadline = time.monotonic() + bound
    for thread, _ in started.values():
        thread.join(max(0.0, deadline - time.monotonic()))
    still_waiting = {name for name, (thread, _) in started.items() if thread.is_alive()}
    for blocker in blockers:
        blocker.rollback()
        blocker.close()
    for thread, _ in started.values():
        thread.join(60)
    outcomes = {name: outcome for name, (_, outcome) in started.items()}
    for name in still_waiting:
        outcomes[name] = Outcome(value="still waiting", error=None, seconds=None)
    return outcomes


def assert_gave_up_on_lock_timeout(outcome: Outcome, bound: float) -> None:
    assert outcome.seconds is not None, f"still queued after {bound:.0f} s"
    assert isinstance(outcome.error, MigrationError), outcome
    assert "lock timeout" in str(outcome.error)
    assert outcome.seconds < 15


def routine_source(dsn: str) -> list[tuple[Any, ...]]:
    with connect_to(dsn) as c:
        if c.execute("SELECT to_regclass('real_estate.routine_source')").fetchone() == (None,):
            return []
        return c.execute("SELECT sha256, installed_at FROM real_estate.routine_source").fetchall()


def test_migration_ddl_gives_up_on_lock_timeout_and_keeps_nothing(db: str, fresh_db: str) -> None:
    """Rolling back 0002 (DROP TRIGGER ... ON real_estate.property) behind a long read, and
    the post-apply step re-creating the triggers (CREATE OR REPLACE TRIGGER) behind a long
    write: each fails after its lock_timeout (10 s) instead of queueing, keeps nothing of
    itself, and succeeds once the blocker ends. (Both at once, on two databases, to keep the
    test at one lock_timeout.)"""
    try:
        at_migration(db, keep=2)  # 0001, 0002
        pyrelease.migrate(fresh_db)
        unschedule_quietly(fresh_db)
        with connect_to(fresh_db) as c:  # as after an upgrade: plpgsql/ changed
            c.execute("UPDATE real_estate.routine_source SET sha256 = 'older'")
        before = {
            d: (applied(d), property_triggers(d), routines(d), routine_source(d))
            for d in (db, fresh_db)
        }
        assert before[db][1] and before[fresh_db][1]

        outcomes = run_blocked(
            {
                "rollback 0002": lambda: pyrelease.rollback(db, 1),
                "post-apply": lambda: pyrelease.migrate(fresh_db),
            },
            [hold_lock(db, "ACCESS SHARE"), hold_lock(fresh_db, "ROW EXCLUSIVE")],
            bound=20,
        )

        for outcome in outcomes.values():
            assert_gave_up_on_lock_timeout(outcome, 20)
            assert outcome.seconds is not None and outcome.seconds >= 9  # waited its 10 s
        after = {
            d: (applied(d), property_triggers(d), routines(d), routine_source(d))
            for d in (db, fresh_db)
        }
        assert after == before  # nothing half-applied, yoyo's log unchanged

        assert pyrelease.rollback(db, 1) == ["0002.functions"]
        assert pyrelease.migrate(fresh_db) == []
        assert routine_source(fresh_db)[0][0] != "older"
        assert pyrelease.migrate(db)[0] == "0002.functions"
        assert applied(db) == applied(fresh_db)
        assert property_triggers(db) == property_triggers(fresh_db)
    finally:
        unschedule_quietly(db)
        unschedule_quietly(fresh_db)


def test_concurrent_index_ddl_gives_up_on_lock_timeout(db: str, fresh_db: str) -> None:
    bound = 13.0  # lock_timeout (10 s) and some slack
    try:
        at_migration(db, keep=4)  # up to 0004: the next rollback drops the index
        at_migration(fresh_db, keep=3)  # up to 0003: the next migrate builds it
        before = {d: applied(d) for d in (db, fresh_db)}

        outcomes = run_blocked(
            {
                "rollback 0004": lambda: pyrelease.rollback(db, 1),
                "apply 0004": lambda: pyrelease.migrate(fresh_db),
            },
            [hold_lock(db, "ACCESS SHARE"), hold_lock(fresh_db, "ROW EXCLUSIVE")],
            bound=bound,
        )
        after = {d: applied(d) for d in (db, fresh_db)}
        waited = sorted(name for name, o in outcomes.items() if o.seconds is None)

        # Whatever happened, the blockers are gone now: migrating again finishes the work
        # (and repairs an INVALID index that a failed concurrent build leaves).
        pyrelease.migrate(db)
        pyrelease.migrate(fresh_db)
        assert index_state(db) is True and index_state(fresh_db) is True

        assert not waited, f"still queued after {bound:.0f} s (until the blocker ended): {waited}"
        for outcome in outcomes.values():
            assert_gave_up_on_lock_timeout(outcome, bound)
        assert after == before  # yoyo's log unchanged by the failed attempts
    finally:
        unschedule_quietly(db)
        unschedule_quietly(fresh_db)


# --------------------------------------------------------------------------- a row that fails


@pytest.mark.parametrize("how", ["function", "procedure"])
def test_row_that_cannot_be_released_is_logged_and_retried(conn: Conn, how: str) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    ids = make_properties(conn, ws, project, 30, status="RESERVED")
    bad = ids[10]
    add_failing_trigger(conn, bad)
    conn.execute("SET client_min_messages = error")  # the release's WARNING per failed row

    for attempt in (1, 2):
        count = run_release(conn, how, batch=1000)
        if count is not None:
            assert count == (29 if attempt == 1 else 0)
        run = runs(conn)[-1]
        _, source, finished_at, released, failed, error = run
        assert source == ("call" if how == "function" else "pg_cron")
        assert finished_at is not None
        assert (released, failed) == ((29 if attempt == 1 else 0), 1)
        assert str(bad) in error and "host refuses" in error
        assert status_of(conn, bad) == "RESERVED"
        assert release_states(conn) == {("AVAILABLE", 1): 29, ("RESERVED", 0): 1}
        assert violations(conn) == []
    assert len(runs(conn)) == 2  # the failure was recorded again by the second run

    conn.execute("DROP TRIGGER refuse_one ON real_estate.property")
    count = run_release(conn, how, batch=1000)
    if count is not None:
        assert count == 1
    assert runs(conn)[-1][3:] == (1, 0, None)
    assert release_states(conn) == {("AVAILABLE", 1): 30}
    assert violations(conn) == []


# --------------------------------------------------------------------------- yoyo's lock row


def test_lock_left_by_a_killed_migration_is_reported_and_broken(
    db: str, conn: Conn, capsys: pytest.CaptureFixture[str]
) -> None:
    last = applied(db)[-1]
    assert pyrelease.rollback(db, 1) == [last]  # something left to apply
    before = applied(db)
    # What yoyo's lock() leaves when the process running a migration is killed.
    conn.execute("INSERT INTO public.yoyo_lock (locked, ctime, pid) VALUES (1, now(), 99999)")
    capsys.readouterr()

    started = time.monotonic()
    code = main(["--dsn", db, "migrate"])
    elapsed = time.monotonic() - started

    out, err = capsys.readouterr()
    assert code == 1
    assert 8 < elapsed < 20
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pyrelease: error: ")
    assert "99999" in lines[0]  # who holds it
    assert "pyrelease migrate --break-lock" in lines[0]  # how to clear it
    assert applied(db) == before
    assert scalar(conn, "SELECT count(*) FROM public.yoyo_lock") == 1

    code = main(["--dsn", db, "migrate", "--break-lock"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines() == ["migration lock cleared", f"applied {last}"]
    assert scalar(conn, "SELECT count(*) FROM public.yoyo_lock") == 0
    assert applied(db) == sorted([*before, last])


# --------------------------------------------------------------------------- health


@pytest.fixture
def cron_app(db: str, conn: Conn) -> Iterator[Conn]:
    """`conn`, on a server with pg_cron; the db's job is removed afterwards."""
    if cron.cron_setup(conn) is None:
        pytest.skip("pg_cron is not available on the test server")
    assert cron.job(conn) is None
    try:
        yield conn
    finally:
        unschedule_quietly(db)


def status_check(db: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--dsn", db, "status", "--check"])
    out, err = capsys.readouterr()
    return code, out, err


def fake_old_scheduled_run(conn: Conn) -> None:
    """The heartbeat of a scheduled run that finished 20 minutes ago."""
    conn.execute(
        "INSERT INTO real_estate.release_heartbeat (started_at, finished_at)"
        " VALUES (now() - interval '21 minutes', now() - interval '20 minutes')"
        " ON CONFLICT (singleton) DO UPDATE"
        " SET started_at = excluded.started_at, finished_at = excluded.finished_at"
    )


def set_active(conn: Conn, job: cron.Job, active: bool) -> None:
    with cron_connection(conn, job) as c:
        c.execute("SELECT cron.alter_job(%s, active := %s)", (job.jobid, active))


def stale_expired_reservation(conn: Conn) -> None:
    ws = make_workspace(conn)
    make_properties(
        conn,
        ws,
        make_project(conn, ws),
        1,
        status="RESERVED",
        reserved_until=scalar(conn, "SELECT now() - interval '20 minutes'"),
    )


def nothing(conn: Conn, job: cron.Job | None) -> None:
    installed_ago(conn, "2 days")  # not waiting for a first run any more


def run_then_pause(conn: Conn, job: cron.Job | None) -> None:
    assert job is not None
    conn.execute("CALL real_estate.run_release_job()")
    set_active(conn, job, False)


def only_an_old_run(conn: Conn, job: cron.Job | None) -> None:
    fake_old_scheduled_run(conn)


def run_then_stale_reservation(conn: Conn, job: cron.Job | None) -> None:
    conn.execute("CALL real_estate.run_release_job()")
    stale_expired_reservation(conn)


# name: (schedule the job first, what goes wrong, what --check says)
HEALTH_CASES: dict[str, tuple[bool, Callable[[Conn, cron.Job | None], None], str]] = {
    "job missing": (False, nothing, "no release job is scheduled"),
    "never ran": (True, nothing, "no scheduled run has finished yet"),
    "job inactive": (True, run_then_pause, "is inactive"),
    "last run too old": (True, only_an_old_run, "last scheduled run finished 20m"),
    "expired reservation waiting too long": (
        True,
        run_then_stale_reservation,
        "1 expired reservation(s) waiting, oldest 20m",
    ),
}


@pytest.mark.parametrize("case", list(HEALTH_CASES))
def test_status_check_fails_with_the_reason(
    db: str, cron_app: Conn, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    schedule, break_it, reason = HEALTH_CASES[case]
    job = cron.schedule(cron_app) if schedule else None
    break_it(cron_app, job)

    code, out, err = status_check(db, capsys)

    assert code == 1, out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrelease: error: unhealthy: "), err
    assert reason in lines[0]
    if job is not None and case not in ("never ran", "job inactive"):
        # */5: a run must have finished since the second-latest start, 5-10 minutes ago
        limit = re.search(r"\(limit (\d+)m(\d\d)s\)", lines[0])
        assert limit is not None, lines[0]
        assert 5 * 60 <= int(limit[1]) * 60 + int(limit[2]) <= 10 * 60


def test_status_check_passes_right_after_a_run_with_an_active_job(
    db: str, cron_app: Conn, capsys: pytest.CaptureFixture[str]
) -> None:
    job = cron.schedule(cron_app)
    set_active(cron_app, job, False)
    assert status_check(db, capsys)[0] == 1
    cron.schedule(cron_app)  # re-activates it
    stale_expired_reservation(cron_app)
    fake_old_scheduled_run(cron_app)
    assert status_check(db, capsys)[0] == 1

    cron_app.execute("CALL real_estate.run_release_job()")

    code, out, err = status_check(db, capsys)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "health: ok"
    assert "active" in out and "INACTIVE" not in out


# --------------------------------------------------------------------------- server crash


@dataclass
class Cluster:
    """A throwaway cluster of scripts/pgcluster.sh (its own data directory and port)."""

    base: Path
    env: dict[str, str]

    def script(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["bash", str(PGCLUSTER), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert done.returncode == 0, f"pgcluster.sh {' '.join(args)}: {done.stderr}"
        return done.stdout.strip()

    def dsn_for(self, dbname: str) -> str:
        return make_conninfo(self.script("dsn"), dbname=dbname, connect_timeout=10)

    def stop_immediate(self) -> None:
        pg_ctl = [str(PG_BINDIR / "pg_ctl"), "-D", str(self.base / "pgdata")]
        args = [*pg_ctl, "-m", "immediate", "-w", "stop"]
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--", *args]
        done = subprocess.run(args, cwd="/", capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def crash_cluster() -> Iterator[Cluster]:
    if not (PG_BINDIR / "pg_ctl").exists() or shutil.which("bash") is None:
        pytest.skip(f"no PostgreSQL binaries in {PG_BINDIR}")
    base = Path(tempfile.mkdtemp(prefix="pyrelease-crash-", dir="/tmp"))
    base.chmod(0o755)  # the server's OS user must enter it
    cluster = Cluster(base, {**os.environ, "PGRELEASE_PGDATA": str(base / "pgdata")})
    try:
        cluster.script("start")
        yield cluster
    finally:
        cluster.script("destroy", check=False)
        shutil.rmtree(base, ignore_errors=True)


def cron_runs_of(dsn: str, job: cron.Job) -> list[cron.JobRun]:
    with connect_to(dsn) as conn:
        return cron.job_runs(conn, job, limit=50)


@pytest.mark.slow
def test_server_stopped_immediately_mid_run_then_restarted(crash_cluster: Cluster) -> None:
    total = 100_000
    with connect_to(crash_cluster.dsn_for("postgres")) as admin:
        admin.execute("CREATE DATABASE crash")
    dsn = crash_cluster.dsn_for("crash")
    pyrelease.migrate(dsn)
    unschedule_quietly(dsn)  # no */5 tick while the backlog is built
    with connect_to(dsn) as conn:
        make_backlog(conn, total)
        job = cron.schedule(conn, cron="* * * * *")
    try:
        # pg_cron starts the run at the next minute; stop the server once a batch committed.
        with connect_to(dsn) as watcher:
            deadline = time.monotonic() + 75
            seen = None
            while time.monotonic() < deadline and not seen:
                seen = watcher.execute(
                    "SELECT id, released, finished_at FROM real_estate.release_run"
                    " WHERE source = 'pg_cron' AND released > 0"
                ).fetchone()
                if not seen:
                    time.sleep(0.005)
            assert seen, "pg_cron did not start the run within 75 s"
            assert seen[2] is None, "the run finished before the server could be stopped"
            crash_cluster.stop_immediate()
        stopped_at: datetime = datetime.now().astimezone()
        crash_cluster.script("start")

        with connect_to(dsn) as conn:
            [(run_id, source, finished_at, released, failed, error)] = runs(conn)
            assert (source, finished_at, failed, error) == ("pg_cron", None, 0, None)
            assert 0 < released < total
            assert events_of(conn, run_id) == released
            assert release_states(conn) == {
                ("AVAILABLE", 1): released,
                ("RESERVED", 0): total - released,
            }
            assert violations(conn) == []

            [interrupted] = cron_runs_of(dsn, job)
            assert interrupted.status == "failed"
            assert interrupted.return_message == "server restarted"

            # The next tick (<= 60 s away) completes the work.
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                latest = cron_runs_of(dsn, job)[0]
                if latest.status in ("succeeded", "failed") and latest.runid != interrupted.runid:
                    break
                time.sleep(1)
            assert latest.runid != interrupted.runid, "no pg_cron run after the restart"
            assert latest.status == "succeeded", latest
            assert latest.start_time is not None and latest.start_time > stopped_at
            first, second = runs(conn)
            assert first == (run_id, "pg_cron", None, released, 0, None)
            assert second[1] == "pg_cron" and second[2] is not None
            assert second[3:] == (total - released, 0, None)
            assert backlog(conn) == 0
            assert release_states(conn) == {("AVAILABLE", 1): total}
            assert violations(conn) == []
    finally:
        unschedule_quietly(dsn)
