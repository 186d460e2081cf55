"""The cases the one-pick, one-statement-per-batch release makes delicate: a row
changed after the pick, a row expiring during a run, a project's counter row held by an
application transaction, concurrent runs. Each row is released exactly once, counters and
invariants hold."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from factories import (
    Conn,
    assert_counters_exact,
    available_plots,
    make_project,
    make_properties,
    make_workspace,
    scalar,
)

Connect = Callable[..., Conn]

BATCH = "SELECT * FROM real_estate.release_batch('call', NULL, %s, %s, %s, %s)"


def pick(conn: Conn) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT ctids, ids, project_ids, workspace_ids FROM real_estate.release_pick()"
    ).fetchone()
    assert row is not None
    return tuple(row)


def status_of(conn: Conn, property_id: uuid.UUID) -> str:
    return str(
        scalar(conn, "SELECT status FROM real_estate.property WHERE id = %s", (property_id,))
    )


def events_of(conn: Conn, property_id: uuid.UUID) -> int:
    return int(
        scalar(
            conn,
            "SELECT count(*) FROM real_estate.release_event WHERE property_id = %s",
            (property_id,),
        )
    )


def slow_down(conn: Conn, property_id: uuid.UUID) -> None:
    """A host trigger that makes the release of this one row take a second."""
    conn.execute(
        f"""
        CREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.id = '{property_id}' THEN PERFORM pg_sleep(1.0); END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER slow BEFORE UPDATE ON real_estate.property
            FOR EACH ROW EXECUTE FUNCTION public.slow();
        """
    )


def no_violations(conn: Conn) -> None:
    assert conn.execute("SELECT * FROM real_estate.check_invariants()").fetchall() == []
    assert_counters_exact(conn)


def test_pick_is_ordered_by_workspace_then_project(conn: Conn) -> None:
    spaces = [make_workspace(conn, name=f"w{i}") for i in range(3)]
    projects = [make_project(conn, ws, f"p{i}") for ws in spaces for i in range(2)]
    for i, project in enumerate(projects):
        make_properties(conn, spaces[i // 2], project, 3, status="RESERVED")
    _, ids, project_ids, workspace_ids = pick(conn)
    assert len(ids) == 18
    keys = [(str(w), str(p)) for w, p in zip(workspace_ids, project_ids, strict=True)]
    assert keys == sorted(keys)


def test_rows_changed_after_the_pick(conn: Conn, connect: Connect) -> None:
    """Between the pick and its batch, the application renames one row (a new version at a
    new ctid, still expired), sells one, re-reserves one, moves one to another project and
    releases one itself. The batch releases the renamed and the moved rows (looked up again
    by id), leaves the others alone, and logs nothing twice."""
    ws = make_workspace(conn)
    project, other = make_project(conn, ws, "a"), make_project(conn, ws, "b")
    renamed, sold, retaken, moved, released, untouched = make_properties(
        conn, ws, project, 6, status="RESERVED"
    )
    picked = pick(conn)
    assert set(picked[1]) == {renamed, sold, retaken, moved, released, untouched}

    app = connect()
    app.execute("UPDATE real_estate.property SET name = 'renamed' WHERE id = %s", (renamed,))
    app.execute(
        "UPDATE real_estate.property SET status = 'SOLD', reserved_by_id = NULL,"
        " reserved_until = NULL WHERE id = %s",
        (sold,),
    )
    app.execute(
        "UPDATE real_estate.property SET reserved_until = now() + interval '1 hour' WHERE id = %s",
        (retaken,),
    )
    app.execute("UPDATE real_estate.property SET project_id = %s WHERE id = %s", (other, moved))
    assert app.execute("SELECT real_estate.release_reservation(%s)", (released,)).fetchone() == (
        True,
    )

    batch = conn.execute(BATCH, picked).fetchone()
    assert batch is not None
    assert (batch[1], batch[2]) == (3, 0)  # renamed, moved, untouched
    assert [status_of(conn, i) for i in (renamed, sold, retaken, moved, released, untouched)] == [
        "AVAILABLE",
        "SOLD",
        "RESERVED",
        "AVAILABLE",
        "AVAILABLE",
        "AVAILABLE",
    ]
    assert [events_of(conn, i) for i in (renamed, sold, retaken, moved, released, untouched)] == [
        1,
        0,
        0,
        1,
        1,
        1,
    ]
    assert (available_plots(conn, project), available_plots(conn, other)) == (3, 1)
    no_violations(conn)


def test_a_stale_pick_never_releases_twice(conn: Conn, connect: Connect) -> None:
    """Another run releases everything (and commits) between this run's pick and its batch:
    the batch finds nothing to do and leaves no run row behind."""
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    ids = make_properties(conn, ws, project, 20, status="RESERVED")
    picked = pick(conn)
    other = connect()
    assert scalar(other, "SELECT real_estate.release_expired_reservations()") == 20
    batch = conn.execute(BATCH, picked).fetchone()
    assert batch is not None and tuple(batch[:3]) == (None, 0, 0)
    assert scalar(conn, "SELECT count(*) FROM real_estate.release_run") == 1
    assert sum(events_of(conn, i) for i in ids) == 20
    no_violations(conn)


def test_row_expiring_during_the_function_is_the_next_runs(conn: Conn, connect: Connect) -> None:
    """The function's clock is its transaction's now(): a reservation that expires while the
    run goes on is left for the next run, never released early."""
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    make_properties(conn, ws, project, 3, status="RESERVED")
    caller = connect(autocommit=False)
    started = scalar(caller, "SELECT now()")
    [soon] = make_properties(
        conn, ws, project, 1, status="RESERVED", reserved_until=started + timedelta(seconds=0.3)
    )
    time.sleep(0.5)  # it has expired by the wall clock, not by the transaction's
    assert scalar(caller, "SELECT real_estate.release_expired_reservations()") == 3
    caller.commit()
    assert status_of(conn, soon) == "RESERVED"
    assert scalar(conn, "SELECT real_estate.release_expired_reservations()") == 1
    no_violations(conn)


def test_row_expiring_during_the_scheduled_run_is_taken_by_its_last_pick(conn: Conn) -> None:
    """The scheduled run's last pick (after its batches committed) releases what expired
    while it ran, in the same run."""
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    [slow, *_] = make_properties(conn, ws, project, 3, status="RESERVED")
    slow_down(conn, slow)
    [soon] = make_properties(
        conn, ws, project, 1, status="RESERVED", reserved_until=_now(conn) + timedelta(seconds=0.4)
    )
    conn.execute("CALL real_estate.run_release_job()")
    assert status_of(conn, soon) == "AVAILABLE"
    run = conn.execute("SELECT released, failed FROM real_estate.release_run").fetchall()
    assert run == [(4, 0)]
    no_violations(conn)


def test_counter_row_held_by_an_application_transaction(conn: Conn, connect: Connect) -> None:
    """An application transaction holds project A's counter row: both release paths release
    project B's rows without waiting, leave A's for the next run, which takes them."""
    ws = make_workspace(conn)
    a, b = make_project(conn, ws, "a"), make_project(conn, ws, "b")
    held = make_properties(conn, ws, a, 5, status="RESERVED")
    free = make_properties(conn, ws, b, 5, status="RESERVED")
    app = connect(autocommit=False)
    app.execute("SELECT 1 FROM real_estate.project WHERE id = %s FOR NO KEY UPDATE", (a,))

    started = time.monotonic()
    assert scalar(conn, "SELECT real_estate.release_expired_reservations(2)") == 5
    conn.execute("CALL real_estate.run_release_job(p_batch_size => 2)")
    assert time.monotonic() - started < 5
    assert {status_of(conn, i) for i in held} == {"RESERVED"}
    assert {status_of(conn, i) for i in free} == {"AVAILABLE"}

    app.rollback()
    conn.execute("CALL real_estate.run_release_job()")
    assert {status_of(conn, i) for i in held} == {"AVAILABLE"}
    assert (available_plots(conn, a), available_plots(conn, b)) == (5, 5)
    no_violations(conn)


def test_concurrent_runs_release_each_row_exactly_once(conn: Conn, connect: Connect) -> None:
    """Four runs at once (two functions, two scheduled runs, small batches) over 40 projects:
    every row released once, none waits on another for long, invariants hold."""
    ws = make_workspace(conn)
    ids: list[uuid.UUID] = []
    for i in range(40):
        ids += make_properties(conn, ws, make_project(conn, ws, f"p{i}"), 25, status="RESERVED")
    statements = [
        "SELECT real_estate.release_expired_reservations(7)",
        "CALL real_estate.run_release_job(p_batch_size => 5)",
        "SELECT real_estate.release_expired_reservations(50)",
        "CALL real_estate.run_release_job(p_batch_size => 13)",
    ]
    sessions = [connect() for _ in statements]
    barrier = threading.Barrier(len(statements))
    errors: list[BaseException] = []

    def run(session: Conn, statement: str) -> None:
        try:
            barrier.wait()
            session.execute(statement)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=a) for a in zip(sessions, statements, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    # Rows one run skipped (held by another at that instant) are the next run's.
    conn.execute("CALL real_estate.run_release_job()")
    assert scalar(conn, "SELECT count(*) FROM real_estate.release_event") == len(ids)
    assert scalar(conn, "SELECT count(DISTINCT property_id) FROM real_estate.release_event") == len(
        ids
    )
    assert scalar(conn, "SELECT sum(released) FROM real_estate.release_run") == len(ids)
    no_violations(conn)


def _now(conn: Conn) -> Any:
    return scalar(conn, "SELECT clock_timestamp()")


# ------------------------------------------------- the scheduled run's pick, slice by slice

# (-infinity expiries come back as text: Python's datetime has no infinity.)
CHUNK = """SELECT ids, project_ids, workspace_ids, cardinality(ctids), cardinality(expiry_sample),
                  scanned, last_workspace_id, last_reserved_until::text, last_id
             FROM real_estate.release_pick_chunk(%s, %s, %s::timestamptz, %s, 2)"""


def test_slices_cover_every_expired_row_once(conn: Conn) -> None:
    """Slice after slice, release_pick_chunk returns every expired reservation exactly once,
    ties on the expiry (one transaction's reservations share it) and an expiry of
    -infinity included; rows of a SUSPENDED workspace are read (and counted) but not
    returned; live reservations never; each slice is ordered by workspace then project."""
    active = [make_workspace(conn, name=f"w{i}") for i in range(3)]
    suspended = make_workspace(conn, "SUSPENDED", name="s")
    tie = _now(conn) - timedelta(hours=1)
    expected: list[uuid.UUID] = []
    for ws in active:
        for name in ("a", "b"):
            project = make_project(conn, ws, name)
            expected += make_properties(conn, ws, project, 7, status="RESERVED")
            expected += make_properties(conn, ws, project, 5, status="RESERVED", reserved_until=tie)
            make_properties(conn, ws, project, 4, status="RESERVED", expired=False)
        expected += make_properties(conn, ws, None, 3, status="RESERVED")
    [minus_infinity] = make_properties(conn, active[0], None, 1, status="RESERVED")
    conn.execute(
        "UPDATE real_estate.property SET reserved_until = '-infinity' WHERE id = %s",
        (minus_infinity,),
    )
    expected.append(minus_infinity)
    make_properties(conn, suspended, make_project(conn, suspended), 6, status="RESERVED")

    seen: list[uuid.UUID] = []
    read = 0
    key: tuple[Any, Any, Any] = (None, None, None)
    for _ in range(100):
        row = conn.execute(CHUNK, (4, *key)).fetchone()
        assert row is not None
        ids, projects, spaces, n_ctids, n_sample, scanned, *last = row
        assert len(ids) == n_ctids == len(projects) == len(spaces) <= scanned
        assert n_sample == len(ids) // 2  # every 2nd row's expiry
        order = [(str(w), str(p) if p else "~") for w, p in zip(spaces, projects, strict=True)]
        assert order == sorted(order), "a slice is ordered by workspace, then project"
        seen += ids
        read += scanned
        if scanned < 4:
            break
        key = tuple(last)  # type: ignore[assignment]
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen))
    assert read == len(expected) + 6


def test_whole_pick_of_a_large_table_goes_window_by_window_of_the_heap(
    conn: Conn, connect: Connect, server: Any
) -> None:
    """Before: the function's pick followed workspaces and projects across the whole heap, so
    in a large table one page was changed by batches far apart (at 10M properties, across
    checkpoints: written in full to the WAL each time). A whole pick of a table larger than an
    eighth of max_wal_size comes window by window of the heap (here 32MB: 512 pages), then
    by workspace and project within a window; everything is still released once."""
    if server.pgdata is None:
        pytest.skip("changes max_wal_size: only on a throwaway cluster")
    ws = make_workspace(conn)
    projects = [make_project(conn, ws, f"p{i}") for i in range(3)]
    reserved: list[uuid.UUID] = []
    for _ in range(6):  # each project's rows in every part of the heap
        for project in projects:
            make_properties(conn, ws, project, 7_000)
            reserved += make_properties(conn, ws, project, 20, status="RESERVED")
    assert scalar(conn, "SELECT pg_relation_size('real_estate.property') / 8192") > 3 * 512
    with server.admin() as admin:
        admin.execute("ALTER SYSTEM SET max_wal_size = '32MB'")
        admin.execute("SELECT pg_reload_conf()")
    try:
        with connect() as fresh:
            for _ in range(100):
                if scalar(fresh, "SHOW max_wal_size") == "32MB":
                    break
                time.sleep(0.05)
            ctids, ids, _, _ = pick(fresh)
            windows = [int(str(c).strip("()").split(",")[0]) // 512 for c in ctids]
            assert windows == sorted(windows), "window by window of the heap"
            assert len(set(windows)) >= 3
            assert sorted(ids) == sorted(reserved)
            released = scalar(fresh, "SELECT real_estate.release_expired_reservations()")
            assert released == len(reserved)
    finally:
        with server.admin() as admin:
            admin.execute("ALTER SYSTEM RESET max_wal_size")
            admin.execute("SELECT pg_reload_conf()")
    assert all(status_of(conn, i) == "AVAILABLE" and events_of(conn, i) == 1 for i in reserved)
    no_violations(conn)


def test_pick_bounds(conn: Conn) -> None:
    """release_pick's range: p_above is exclusive, p_up_to inclusive, p_limit takes the
    oldest; without bounds an expiry of -infinity is picked."""
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    ids = make_properties(conn, ws, project, 5, status="RESERVED")  # oldest first, 1 s apart
    conn.execute(
        "UPDATE real_estate.property SET reserved_until = '-infinity' WHERE id = %s", (ids[0],)
    )
    untils = [
        scalar(conn, "SELECT reserved_until::text FROM real_estate.property WHERE id = %s", (i,))
        for i in ids
    ]

    def picked(**bounds: Any) -> set[uuid.UUID]:
        row = conn.execute(
            "SELECT ids FROM real_estate.release_pick(p_above => %(above)s::timestamptz,"
            " p_up_to => %(up_to)s::timestamptz, p_limit => %(limit)s::integer)",
            {"above": None, "up_to": None, "limit": None, **bounds},
        ).fetchone()
        assert row is not None
        return set(row[0])

    assert picked() == set(ids)
    assert picked(above=untils[1], up_to=untils[3]) == {ids[2], ids[3]}
    assert picked(up_to=untils[0]) == {ids[0]}
    assert picked(limit=2) == {ids[0], ids[1]}


def test_scheduled_run_reads_a_large_backlog_in_slices(conn: Conn) -> None:
    """A backlog larger than one slice (4 batches) goes through the sliced pick, window
    after window (50 slices), and the sliced last pick: every row released once, in one
    run, counters exact; a reservation that expires while the run goes on is taken by the
    last pick."""
    spaces = [make_workspace(conn, name=f"w{i}") for i in range(3)]
    ids: list[uuid.UUID] = []
    for ws in spaces:
        for name in ("a", "b"):
            ids += make_properties(conn, ws, make_project(conn, ws, name), 40, status="RESERVED")
        ids += make_properties(conn, ws, None, 4, status="RESERVED")
    [slow] = ids[:1]
    slow_down(conn, slow)
    [soon] = make_properties(
        conn,
        spaces[0],
        None,
        1,
        status="RESERVED",
        reserved_until=_now(conn) + timedelta(seconds=0.4),
    )
    # Batches of 1: slices of 4 rows, windows of 200.
    conn.execute("CALL real_estate.run_release_job(p_batch_size => 1)")
    assert conn.execute("SELECT released, failed FROM real_estate.release_run").fetchall() == [
        (len(ids) + 1, 0)
    ]
    assert {status_of(conn, i) for i in [*ids, soon]} == {"AVAILABLE"}
    assert scalar(conn, "SELECT count(DISTINCT property_id) FROM real_estate.release_event") == (
        len(ids) + 1
    )
    assert scalar(conn, "SELECT count(*) FROM real_estate.release_event") == len(ids) + 1
    no_violations(conn)
