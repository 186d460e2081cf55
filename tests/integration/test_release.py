"""The release of expired reservations: real_estate.release_expired_reservations,
real_estate.run_release_job, real_estate.release_reservation (AC 2.4.x)."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from factories import (
    Conn,
    Status,
    add_failing_trigger,
    assert_counters_exact,
    available_plots,
    count,
    make_project,
    make_properties,
    make_workspace,
    property_row,
    release,
    release_one,
    runs,
    scalar,
    status_of,
)
from psycopg import sql

Connect = Callable[..., Conn]


def test_reservation_expiring_exactly_now_is_expired(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    at_now, just_after = make_properties(conn, ws, project, 2, status="RESERVED", expired=False)
    with conn.transaction():  # now() is the transaction's start: the same in both statements
        conn.execute(
            "UPDATE real_estate.property SET reserved_until = now() WHERE id = %s", (at_now,)
        )
        conn.execute(
            "UPDATE real_estate.property SET reserved_until = now() + interval '1 microsecond'"
            " WHERE id = %s",
            (just_after,),
        )
        assert release(conn) == 1
    assert status_of(conn, at_now) == "AVAILABLE"
    assert status_of(conn, just_after) == "RESERVED"


# --------------------------------------------------------------------- batches


@pytest.mark.parametrize("batch_size", [1000, 7])
def test_backlog_larger_than_batch_is_released_by_one_call(conn: Conn, batch_size: int) -> None:
    ws = make_workspace(conn)
    p1, p2 = make_project(conn, ws, "p1"), make_project(conn, ws, "p2")
    make_properties(conn, ws, p1, 1500, status="RESERVED")
    make_properties(conn, ws, p2, 1000, status="RESERVED")
    make_properties(conn, ws, p2, 10, status="RESERVED", expired=False)

    assert release(conn, batch_size) == 2500

    assert [available_plots(conn, p) for p in (p1, p2)] == [1500, 1000]
    assert count(conn, "release_event") == 2500
    [run] = runs(conn)
    assert run[1] == "call" and run[4:6] == (2500, 0) and run[3] is not None
    assert scalar(conn, "SELECT expired_reservations FROM real_estate.release_backlog") == 0


def test_backlog_larger_than_batch_is_released_by_one_job_run(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    make_properties(conn, ws, project, 2500, status="RESERVED")
    make_properties(conn, ws, project, 3, status="RESERVED", expired=False)

    conn.execute("CALL real_estate.run_release_job(p_batch_size => 100)")

    assert available_plots(conn, project) == 2500
    assert count(conn, "release_event") == 2500
    [run] = runs(conn)
    _, source, started_at, finished_at, released, failed, error = run
    assert (source, released, failed, error) == ("pg_cron", 2500, 0, None)
    assert finished_at is not None and finished_at >= started_at
    assert_counters_exact(conn)


# --------------------------------------------------------------------- concurrency


def test_concurrent_releases_release_each_row_exactly_once(connect: Connect) -> None:
    setup = connect()
    ws = make_workspace(setup)
    projects = [make_project(setup, ws, f"p{i}") for i in range(4)]
    for project in projects:  # interleaved expiries: every batch touches every project
        make_properties(setup, ws, project, 400, status="RESERVED")
    total = 4 * 400
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        c = connect()
        try:
            barrier.wait(timeout=10)
            results.append(release(c, 50))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert not errors, errors
    assert len(results) == 2 and sum(results) == total
    assert count(setup, "release_event") == total
    assert scalar(setup, "SELECT count(DISTINCT property_id) FROM real_estate.release_event") == (
        total
    )
    assert [available_plots(setup, p) for p in projects] == [400] * 4
    assert_counters_exact(setup)


def _wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.02)


def _waiting_on(conn: Conn, pid: int) -> str | None:
    row = conn.execute(
        "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s", (pid,)
    ).fetchone()
    return f"{row[0]}:{row[1]}" if row and row[0] == "Lock" else None


def test_concurrent_releases_with_disjoint_batches_do_not_deadlock(connect: Connect) -> None:
    """Two calls whose batches touch projects in opposite orders must both finish cleanly.

    Expiry order (batch size 7): g1 = 7 rows of P1, g2 = 7 rows of P2, g3 = 7 rows of P2,
    g4 = 7 rows of P1. Call A releases g1 (locking P1's counter) and is held by a host trigger
    (an advisory lock, only to fix the timing) while releasing g2; call B then releases g3
    (locking P2's counter) and g4 (waiting for P1, held by A). When A goes on it needs P2's
    counter, held by B: a lock cycle. Expected: both calls finish, every row released once.
    """
    setup = connect()
    ws = make_workspace(setup)
    p1, p2 = make_project(setup, ws, "p1"), make_project(setup, ws, "p2")
    groups = [(p1, 4), (p2, 3), (p2, 2), (p1, 1)]  # (project, hours ago): g1 is the oldest
    ids: list[list[uuid.UUID]] = []
    for project, hours in groups:
        ids.append(
            make_properties(
                setup,
                ws,
                project,
                7,
                status="RESERVED",
                reserved_until=scalar(setup, "SELECT now() - %s * interval '1 hour'", (hours,)),
            )
        )
    gate_row = ids[1][0]
    setup.execute(
        """
        CREATE FUNCTION public.gate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock_shared(4242);
            RETURN NEW;
        END $$
        """
    )
    setup.execute(
        sql.SQL(
            "CREATE TRIGGER gate BEFORE UPDATE ON real_estate.property FOR EACH ROW"
            " WHEN (OLD.id = {}) EXECUTE FUNCTION public.gate()"
        ).format(sql.Literal(gate_row))
    )
    gatekeeper = connect()
    gatekeeper.execute("SELECT pg_advisory_lock(4242)")
    a, b = connect(), connect()
    for c in (a, b):  # superuser-only setting: detect the lock cycle in 0.1 s instead of 1 s
        c.execute("SET deadlock_timeout = '100ms'")
    results: dict[str, int] = {}
    errors: dict[str, BaseException] = {}

    def worker(name: str, c: Conn) -> None:
        try:
            results[name] = release(c, 7)
        except BaseException as exc:
            errors[name] = exc

    ta = threading.Thread(target=worker, args=("a", a))
    ta.start()
    _wait_until(lambda: _waiting_on(setup, a.info.backend_pid) is not None, "A is at the gate")
    tb = threading.Thread(target=worker, args=("b", b))
    tb.start()
    _wait_until(
        lambda: not tb.is_alive() or _waiting_on(setup, b.info.backend_pid) is not None,
        "B is blocked or done",
    )
    gatekeeper.execute("SELECT pg_advisory_unlock(4242)")
    ta.join(timeout=30)
    tb.join(timeout=30)

    assert not errors, {k: f"{type(v).__name__}: {v}" for k, v in errors.items()}
    failures = setup.execute(
        "SELECT failed, error FROM real_estate.release_run WHERE failed > 0"
    ).fetchall()
    assert not failures, failures
    assert results["a"] + results["b"] == 28
    assert [available_plots(setup, p) for p in (p1, p2)] == [14, 14]
    assert_counters_exact(setup)


def test_row_locked_elsewhere_is_skipped_without_waiting(connect: Connect) -> None:
    conn, holder = connect(), connect(autocommit=False)
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    ids = make_properties(conn, ws, project, 5, status="RESERVED")
    locked = ids[2]
    holder.execute("SELECT 1 FROM real_estate.property WHERE id = %s FOR UPDATE", (locked,))
    conn.execute("SET lock_timeout = '5s'")  # waiting for the row would take at least this

    started = time.monotonic()
    assert release(conn) == 4
    assert time.monotonic() - started < 5
    assert conn.execute("SELECT failed, error FROM real_estate.release_run").fetchall() == [
        (0, None)
    ]

    assert status_of(conn, locked) == "RESERVED"
    assert available_plots(conn, project) == 4
    holder.rollback()
    assert release(conn) == 1
    assert status_of(conn, locked) == "AVAILABLE"
    assert available_plots(conn, project) == 5
    released = conn.execute("SELECT property_id FROM real_estate.release_event").fetchall()
    assert sorted(r[0] for r in released) == sorted(ids)


def test_open_transaction_on_the_same_project_does_not_block_the_release(
    connect: Connect,
) -> None:
    conn, app = connect(), connect(autocommit=False)
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    [other] = make_properties(conn, ws, project, 1)
    [expired] = make_properties(conn, ws, project, 1, status="RESERVED")
    # The application reserves another property of the project and has not committed yet.
    app.execute("SELECT real_estate.reserve_property(%s, gen_random_uuid())", (other,))
    conn.execute("SET lock_timeout = '1s'")

    started = time.monotonic()
    first = release(conn)
    elapsed = time.monotonic() - started
    failures = conn.execute(
        "SELECT failed, error FROM real_estate.release_run WHERE failed > 0"
    ).fetchall()
    app.commit()
    second = release(conn)

    assert elapsed < 1, f"the release waited {elapsed:.1f} s for the project counter row"
    assert not failures, failures
    assert first + second == 1
    assert status_of(conn, expired) == "AVAILABLE"
    assert_counters_exact(conn)


# --------------------------------------------------------------------- failures


@pytest.mark.parametrize("batch_size", [1000, 2])
def test_row_failing_in_a_host_trigger_does_not_stop_the_others(
    conn: Conn, batch_size: int
) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    ids = make_properties(conn, ws, project, 5, status="RESERVED")
    bad = ids[1]
    add_failing_trigger(conn, bad)
    before = property_row(conn, bad)

    assert release(conn, batch_size) == 4  # does not raise

    assert property_row(conn, bad) == before
    assert [status_of(conn, p) for p in ids if p != bad] == ["AVAILABLE"] * 4
    assert available_plots(conn, project) == 4
    [run] = runs(conn)
    _, source, _, finished_at, released, failed, error = run
    assert (source, released, failed) == ("call", 4, 1)
    assert finished_at is not None
    assert error is not None and str(bad) in error and "host refuses" in error
    events = {r[0] for r in conn.execute("SELECT property_id FROM real_estate.release_event")}
    assert events == set(ids) - {bad}
    assert_counters_exact(conn)


def test_job_run_records_a_row_failing_in_a_host_trigger(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    ids = make_properties(conn, ws, project, 5, status="RESERVED")
    add_failing_trigger(conn, ids[3])

    conn.execute("CALL real_estate.run_release_job(p_batch_size => 2)")

    [run] = runs(conn)
    _, source, _, finished_at, released, failed, error = run
    assert (source, released, failed) == ("pg_cron", 4, 1)
    assert finished_at is not None and str(ids[3]) in error
    assert available_plots(conn, project) == 4


def test_rows_vetoed_by_a_host_trigger_do_not_loop_forever(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    ids = make_properties(conn, ws, project, 3, status="RESERVED")
    vetoed = ids[:2]  # the two oldest: exactly one batch of 2
    conn.execute(
        "CREATE FUNCTION public.veto() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RETURN NULL; END $$"
    )
    conn.execute(
        sql.SQL(
            "CREATE TRIGGER veto BEFORE UPDATE ON real_estate.property FOR EACH ROW"
            " WHEN (OLD.id = ANY ({})) EXECUTE FUNCTION public.veto()"
        ).format(sql.Literal(vetoed))
    )
    conn.execute("SET statement_timeout = '1s'")

    assert release(conn, 2) == 1

    assert status_of(conn, ids[2]) == "AVAILABLE"
    assert [status_of(conn, p) for p in vetoed] == ["RESERVED"] * 2


# --------------------------------------------------------------------- release_reservation


@pytest.mark.parametrize(
    "case", ["unknown", "available", "sold", "not_expired", "inactive_workspace"]
)
def test_release_reservation_returns_false(conn: Conn, case: str) -> None:
    ws = make_workspace(conn, "INACTIVE" if case == "inactive_workspace" else "ACTIVE")
    project = make_project(conn, ws)
    status: Status = (
        "AVAILABLE" if case == "available" else "SOLD" if case == "sold" else "RESERVED"
    )
    [pid] = make_properties(conn, ws, project, 1, status=status, expired=case != "not_expired")
    target = uuid.uuid4() if case == "unknown" else pid
    before = property_row(conn, pid)

    assert release_one(conn, target) is False

    assert property_row(conn, pid) == before
    assert count(conn, "release_run") == 0
    assert count(conn, "release_event") == 0


def test_release_reservation_releases_an_expired_one_once(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    holder = uuid.uuid4()
    target, other = make_properties(conn, ws, project, 2, status="RESERVED", reserved_by_id=holder)

    assert release_one(conn, target) is True
    assert release_one(conn, target) is False  # already released

    assert status_of(conn, target) == "AVAILABLE"
    assert status_of(conn, other) == "RESERVED"  # only the one asked for
    assert available_plots(conn, project) == 1
    [run] = runs(conn)
    assert run[1] == "call" and run[4:7] == (1, 0, None) and run[3] is not None
    events = conn.execute(
        "SELECT run_id, property_id, reserved_by_id FROM real_estate.release_event"
    ).fetchall()
    assert events == [(run[0], target, holder)]


def test_release_reservation_waits_and_decides_on_the_committed_row(connect: Connect) -> None:
    setup = connect()
    ws = make_workspace(setup)
    project = make_project(setup, ws)
    [target] = make_properties(setup, ws, project, 1, status="RESERVED")
    app, releaser = connect(autocommit=False), connect()
    outcome: list[bool] = []

    # Another transaction takes the expired reservation over (and releases it itself).
    app.execute("SELECT real_estate.reserve_property(%s, gen_random_uuid())", (target,))
    thread = threading.Thread(target=lambda: outcome.append(release_one(releaser, target)))
    thread.start()
    _wait_until(
        lambda: _waiting_on(setup, releaser.info.backend_pid) is not None,
        "release_reservation waits for the row",
    )
    app.commit()
    thread.join(timeout=10)

    assert outcome == [False]  # the row as committed holds a fresh reservation
    assert status_of(setup, target) == "RESERVED"
    assert count(setup, "release_event") == 1  # the takeover's, not a second one
    assert_counters_exact(setup)


# --------------------------------------------------------------------- the partial index

# The pick's scan in plpgsql/release_pick.sql, as written there (p_* are its parameters);
# the test checks the function still contains it, and runs it under the settings the
# function pins (a plain index scan: only that marks dead index entries as such).
PICK_QUERY = """
SELECT p.ctid AS row_ctid, p.id, p.project_id, p.workspace_id
  FROM real_estate.property AS p
 WHERE p.status = 'RESERVED'
   AND p.reserved_until >= coalesce(p_above, '-infinity'::timestamptz)
   AND p.reserved_until IS DISTINCT FROM p_above  -- (p_above is exclusive)
   AND p.reserved_until <= least(coalesce(p_up_to, 'infinity'::timestamptz), now())
   AND (p.reserved_until > p_after) IS NOT FALSE
 ORDER BY p.reserved_until  -- the index's order: no sort
 LIMIT p_limit
"""
PICK_SETTINGS = ["enable_bitmapscan=off", "enable_seqscan=off", "enable_sort=off", "work_mem=64MB"]


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes.extend(_plan_nodes(child))
    return nodes


def _explain(conn: Conn) -> list[dict[str, Any]]:
    query = re.sub(r"--.*", "", PICK_QUERY)
    for name, null in (
        ("p_after", "timestamptz"),
        ("p_above", "timestamptz"),
        ("p_up_to", "timestamptz"),
        ("p_limit", "integer"),
    ):
        query = query.replace(name, f"NULL::{null}")
    with conn.transaction():
        for setting in PICK_SETTINGS:
            name, value = setting.split("=")
            conn.execute("SELECT set_config(%s, %s, true)", (name, value))
        [[result]] = conn.execute("EXPLAIN (FORMAT JSON) " + query).fetchall()
    return _plan_nodes(result[0]["Plan"])


def test_release_pick_query_uses_the_partial_index(conn: Conn) -> None:
    source, config = conn.execute(
        "SELECT prosrc, proconfig FROM pg_proc WHERE oid = 'real_estate.release_pick'::regproc"
    ).fetchone()
    assert _squash(PICK_QUERY) in _squash(source), "the copied pick query is out of date"
    assert set(PICK_SETTINGS) <= set(config), config
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    conn.execute(
        """
        INSERT INTO real_estate.property
            (workspace_id, project_id, name, status, reserved_by_id, reserved_until)
        SELECT %(ws)s, %(project)s, 'p' || g,
               CASE WHEN g %% 400 = 0 THEN 'RESERVED' WHEN g %% 3 = 0 THEN 'SOLD'
                    ELSE 'AVAILABLE' END,
               CASE WHEN g %% 400 = 0 THEN gen_random_uuid() END,
               CASE WHEN g %% 400 = 0 THEN now() + (g %% 800 - 400) * interval '1 minute' END
          FROM generate_series(1, 200000) AS g
        """,
        {"ws": ws, "project": project},
    )
    conn.execute("ANALYZE real_estate.property")
    conn.execute("ANALYZE real_estate.workspace")

    nodes = _explain(conn)
    index_scans = [
        n
        for n in nodes
        if n["Node Type"] == "Index Scan" and n.get("Index Name") == "property_reserved_until_idx"
    ]
    assert index_scans, [n["Node Type"] for n in nodes]
    assert not [
        n for n in nodes if n["Node Type"] == "Seq Scan" and n["Relation Name"] == "property"
    ]

    # Without the index the pick reads the whole table (a sequential scan, or, under the
    # pinned settings, another index from end to end, with no index condition), or the
    # rows of the other partial index (property_release_pick_idx), which it must sort.
    with conn.transaction():
        conn.execute("DROP INDEX real_estate.property_reserved_until_idx")
        nodes = _explain(conn)
        whole = [n for n in nodes if n.get("Relation Name") == "property" and "Index Cond" not in n]
        sorted_ = [n for n in nodes if n["Node Type"] == "Sort"]
        assert whole or sorted_, [n["Node Type"] for n in nodes]
        raise psycopg.Rollback()
    assert scalar(conn, "SELECT to_regclass('real_estate.property_reserved_until_idx')::text")


# --------------------------------------------------------------------- the scheduled run


def test_job_run_purges_logs_older_than_retention(conn: Conn) -> None:
    def old_run(days: int, source: str) -> int:
        run_id = int(
            scalar(
                conn,
                "INSERT INTO real_estate.release_run (source, started_at, finished_at, released)"
                " VALUES (%s, now() - %s * interval '1 day', now() - %s * interval '1 day', 1)"
                " RETURNING id",
                (source, days, days),
            )
        )
        conn.execute(
            "INSERT INTO real_estate.release_event (run_id, property_id, workspace_id,"
            " reserved_by_id, reserved_until, released_at) VALUES (%s, gen_random_uuid(),"
            " gen_random_uuid(), gen_random_uuid(), now() - %s * interval '1 day' - interval"
            " '1 hour', now() - %s * interval '1 day')",
            (run_id, days, days),
        )
        return run_id

    purged = [old_run(40, "pg_cron"), old_run(31, "call")]
    kept = [old_run(29, "pg_cron"), old_run(10, "call")]
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    make_properties(conn, ws, project, 2, status="RESERVED")

    conn.execute("CALL real_estate.run_release_job()")  # retention: 30 days by default

    remaining = runs(conn)
    assert [r[0] for r in remaining][:2] == kept
    assert not {r[0] for r in remaining} & set(purged)
    new = remaining[2:]
    assert [(r[1], r[4], r[3] is not None) for r in new] == [("pg_cron", 2, True)]
    event_runs = {r[0] for r in conn.execute("SELECT run_id FROM real_estate.release_event")}
    assert event_runs == {*kept, new[0][0]}

    conn.execute("CALL real_estate.run_release_job(p_retention => interval '20 days')")
    assert kept[0] not in {r[0] for r in runs(conn)}
    assert kept[1] in {r[0] for r in runs(conn)}


def test_steady_state_release_writes_nothing(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    make_properties(conn, ws, project, 3)
    make_properties(conn, ws, project, 2, status="RESERVED", expired=False)
    make_properties(conn, ws, project, 1, status="SOLD")
    inactive = make_workspace(conn, "INACTIVE")
    make_properties(conn, inactive, None, 2, status="RESERVED")  # expired, but never released

    assert [release(conn) for _ in range(3)] == [0, 0, 0]

    assert count(conn, "release_run") == 0
    assert count(conn, "release_event") == 0
    assert available_plots(conn, project) == 3


# The slice's scan in plpgsql/release_pick_chunk.sql, as written there.
CHUNK_QUERY = """
SELECT p.ctid AS row_ctid, p.id, p.project_id, p.workspace_id, p.reserved_until
  FROM real_estate.property AS p
 WHERE p.status = 'RESERVED'
   AND ROW(p.workspace_id, p.reserved_until, p.id)
       >= ROW(coalesce(p_after_workspace_id, '00000000-0000-0000-0000-000000000000'::uuid),
              coalesce(p_after_reserved_until, '-infinity'::timestamptz),
              coalesce(p_after_id, '00000000-0000-0000-0000-000000000000'::uuid))
   AND p.reserved_until <= now()
   AND p.id IS DISTINCT FROM p_after_id
 ORDER BY p.workspace_id, p.reserved_until, p.id
 LIMIT p_limit
"""


def test_release_pick_chunk_reads_a_range_of_its_index(conn: Conn) -> None:
    """Each slice starts at its key in property_release_pick_idx (an index condition on the
    row key, not a walk from the start) and reads in the index's order (no sort)."""
    source = scalar(
        conn, "SELECT prosrc FROM pg_proc WHERE oid = 'real_estate.release_pick_chunk'::regproc"
    )
    assert _squash(CHUNK_QUERY) in _squash(source), "the copied slice query is out of date"
    ws = make_workspace(conn)
    make_properties(conn, ws, make_project(conn, ws), 2000, status="RESERVED")
    conn.execute("ANALYZE real_estate.property")
    query = CHUNK_QUERY
    for name, value in (
        ("p_after_workspace_id", f"'{ws}'::uuid"),
        ("p_after_reserved_until", "now() - interval '1 hour'"),
        ("p_after_id", "gen_random_uuid()"),
        ("p_limit", "100"),
    ):
        query = query.replace(name, value)
    [[result]] = conn.execute("EXPLAIN (FORMAT JSON) " + query).fetchall()
    nodes = _plan_nodes(result[0]["Plan"])
    scans = [n for n in nodes if n.get("Index Name") == "property_release_pick_idx"]
    assert scans and "ROW(" in scans[0]["Index Cond"], nodes
    assert not [n for n in nodes if n["Node Type"] == "Sort"], nodes


def test_nothing_expired_is_one_scan_without_the_pick(conn: Conn) -> None:
    """The steady state compiles and plans nothing but its one scan of the partial index
    (pg_cron runs each job in a new session, which pays for every routine it calls); an
    expired reservation, even one that is never released (its workspace is not ACTIVE),
    goes on to the pick."""

    def pick_calls() -> int:
        return int(
            scalar(
                conn,
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions"
                " WHERE schemaname = 'real_estate' AND funcname = 'release_pick'",
            )
        )

    ws = make_workspace(conn)
    project = make_project(conn, ws)
    make_properties(conn, ws, project, 2, status="RESERVED", expired=False)
    with conn.transaction():
        conn.execute("SET LOCAL track_functions = 'pl'")
        assert release(conn) == 0
        assert pick_calls() == 0
        inactive = make_workspace(conn, "INACTIVE")
        make_properties(conn, inactive, None, 1, status="RESERVED")
        assert release(conn) == 0
        assert pick_calls() == 1
        make_properties(conn, ws, project, 1, status="RESERVED")
        assert release(conn) == 1
        assert pick_calls() == 2
