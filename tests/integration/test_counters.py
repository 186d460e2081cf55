"""project.available_plots is maintained by the database after every write to property."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
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


@pytest.fixture
def world(conn: Conn) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """One ACTIVE workspace with three empty projects."""
    ws = make_workspace(conn)
    return ws, [make_project(conn, ws, f"p{i}") for i in range(3)]


def plots(conn: Conn, projects: list[uuid.UUID]) -> list[int]:
    return [available_plots(conn, p) for p in projects]


def test_counters_after_multi_row_insert(
    conn: Conn, world: tuple[uuid.UUID, list[uuid.UUID]]
) -> None:
    ws, (p1, p2, p3) = world
    conn.execute(
        """
        INSERT INTO real_estate.property
            (workspace_id, project_id, status, reserved_by_id, reserved_until)
        VALUES (%(ws)s, %(p1)s, 'AVAILABLE', NULL, NULL),
               (%(ws)s, %(p1)s, 'AVAILABLE', NULL, NULL),
               (%(ws)s, %(p2)s, 'AVAILABLE', NULL, NULL),
               (%(ws)s, %(p1)s, 'SOLD', NULL, NULL),
               (%(ws)s, %(p2)s, 'RESERVED', gen_random_uuid(), now() + interval '1 day'),
               (%(ws)s, %(p3)s, 'RESERVED', gen_random_uuid(), now() - interval '1 day'),
               (%(ws)s, NULL, 'AVAILABLE', NULL, NULL)
        """,
        {"ws": ws, "p1": p1, "p2": p2, "p3": p3},
    )
    assert plots(conn, [p1, p2, p3]) == [2, 1, 0]
    make_properties(conn, ws, p3, 50)
    assert plots(conn, [p1, p2, p3]) == [2, 1, 50]
    assert_counters_exact(conn)


def test_counters_after_copy_upsert_and_merge(
    conn: Conn, world: tuple[uuid.UUID, list[uuid.UUID]]
) -> None:
    ws, (p1, p2, _) = world
    with conn.cursor().copy(
        "COPY real_estate.property (workspace_id, project_id, status) FROM STDIN"
    ) as copy:
        for project, status in [(p1, "AVAILABLE"), (p1, "AVAILABLE"), (p2, "SOLD")]:
            copy.write_row((ws, project, status))
    assert plots(conn, [p1, p2]) == [2, 0]

    [existing] = make_properties(conn, ws, p1, 1)
    fresh = uuid.uuid4()
    conn.execute(
        "INSERT INTO real_estate.property (id, workspace_id, project_id, status)"
        " VALUES (%s, %s, %s, 'SOLD'), (%s, %s, %s, 'AVAILABLE')"
        " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status",
        (existing, ws, p1, fresh, ws, p2),
    )
    assert plots(conn, [p1, p2]) == [2, 1]

    conn.execute(
        """
        MERGE INTO real_estate.property AS t
        USING (VALUES (%s::uuid, 'AVAILABLE'), (%s::uuid, 'AVAILABLE')) AS s (id, status)
           ON t.id = s.id
         WHEN MATCHED THEN DELETE
         WHEN NOT MATCHED THEN
              INSERT (id, workspace_id, project_id, status) VALUES (s.id, %s, %s, s.status)
        """,
        (fresh, uuid.uuid4(), ws, p1),
    )
    assert plots(conn, [p1, p2]) == [3, 0]
    assert_counters_exact(conn)


def test_counters_after_update(conn: Conn, world: tuple[uuid.UUID, list[uuid.UUID]]) -> None:
    ws, (p1, p2, p3) = world
    a1 = make_properties(conn, ws, p1, 5)
    a2 = make_properties(conn, ws, p2, 3)
    r3 = make_properties(conn, ws, p3, 2, status="RESERVED", expired=False)
    assert plots(conn, [p1, p2, p3]) == [5, 3, 0]

    # status changes in several projects at once
    conn.execute(
        "UPDATE real_estate.property SET status = 'SOLD' WHERE id = ANY (%s)",
        ([a1[0], a1[1], a2[0]],),
    )
    assert plots(conn, [p1, p2, p3]) == [3, 2, 0]
    conn.execute(
        "UPDATE real_estate.property SET status = 'AVAILABLE', reserved_by_id = NULL,"
        " reserved_until = NULL WHERE id = ANY (%s)",
        (r3,),
    )
    assert plots(conn, [p1, p2, p3]) == [3, 2, 2]

    # moving an AVAILABLE property between projects; a SOLD one moves nothing
    conn.execute("UPDATE real_estate.property SET project_id = %s WHERE id = %s", (p2, a1[2]))
    conn.execute("UPDATE real_estate.property SET project_id = %s WHERE id = %s", (p3, a1[0]))
    assert plots(conn, [p1, p2, p3]) == [2, 3, 2]

    # swapping two AVAILABLE properties' projects in one statement: nothing changes
    conn.execute(
        "UPDATE real_estate.property AS p SET project_id = v.project_id"
        " FROM (VALUES (%s::uuid, %s::uuid), (%s::uuid, %s::uuid)) AS v (id, project_id)"
        " WHERE p.id = v.id",
        (a1[3], p2, a2[1], p1),
    )
    assert plots(conn, [p1, p2, p3]) == [2, 3, 2]

    # project_id set to NULL and back; status and project changed together
    conn.execute("UPDATE real_estate.property SET project_id = NULL WHERE id = %s", (a2[2],))
    assert plots(conn, [p1, p2, p3]) == [2, 2, 2]
    conn.execute(
        "UPDATE real_estate.property SET project_id = %s, status = 'SOLD' WHERE id = %s",
        (p3, a2[2]),
    )
    assert plots(conn, [p1, p2, p3]) == [2, 2, 2]
    conn.execute(
        "UPDATE real_estate.property SET project_id = %s, status = 'AVAILABLE' WHERE id = %s",
        (p1, a2[2]),
    )
    assert plots(conn, [p1, p2, p3]) == [3, 2, 2]

    # an UPDATE that changes nothing relevant, and one that matches no row
    conn.execute("UPDATE real_estate.property SET name = 'renamed'")
    conn.execute("UPDATE real_estate.property SET status = 'SOLD' WHERE false")
    assert plots(conn, [p1, p2, p3]) == [3, 2, 2]
    assert_counters_exact(conn)


def test_counters_after_delete(conn: Conn, world: tuple[uuid.UUID, list[uuid.UUID]]) -> None:
    ws, (p1, p2, p3) = world
    a1 = make_properties(conn, ws, p1, 4)
    a2 = make_properties(conn, ws, p2, 4)
    sold = make_properties(conn, ws, p3, 2, status="SOLD")
    make_properties(conn, ws, p3, 1)

    conn.execute("DELETE FROM real_estate.property WHERE id = ANY (%s)", ([*a1[:3], a2[0], *sold],))

    assert plots(conn, [p1, p2, p3]) == [1, 3, 1]
    conn.execute("DELETE FROM real_estate.property WHERE project_id = %s", (p2,))
    assert plots(conn, [p1, p2, p3]) == [1, 0, 1]
    assert_counters_exact(conn)


def test_counters_after_truncate(conn: Conn, world: tuple[uuid.UUID, list[uuid.UUID]]) -> None:
    ws, (p1, p2, p3) = world
    make_properties(conn, ws, p1, 4)
    make_properties(conn, ws, p2, 2)
    make_properties(conn, ws, p3, 2, status="SOLD")

    conn.execute("TRUNCATE real_estate.property")

    assert plots(conn, [p1, p2, p3]) == [0, 0, 0]
    make_properties(conn, ws, p2, 3)
    assert plots(conn, [p1, p2, p3]) == [0, 3, 0]
    with conn.transaction():  # and inside a transaction, followed by new rows
        conn.execute("TRUNCATE real_estate.property")
        make_properties(conn, ws, p1, 1)
    assert plots(conn, [p1, p2, p3]) == [1, 0, 0]
    assert_counters_exact(conn)


def test_direct_counter_update_is_refused(
    conn: Conn, world: tuple[uuid.UUID, list[uuid.UUID]]
) -> None:
    ws, (p1, p2, _) = world
    make_properties(conn, ws, p1, 2)

    with pytest.raises(psycopg.Error) as info:
        conn.execute("UPDATE real_estate.project SET available_plots = 99 WHERE id = %s", (p1,))
    assert info.value.sqlstate == "RE011"
    with pytest.raises(psycopg.Error) as info:
        conn.execute("UPDATE real_estate.project SET available_plots = available_plots + 1")
    assert info.value.sqlstate == "RE011"

    assert plots(conn, [p1, p2]) == [2, 0]
    # other columns stay writable, and so does a no-op write of the counter
    conn.execute("UPDATE real_estate.project SET name = 'renamed', total_plots = 7")
    conn.execute("UPDATE real_estate.project SET available_plots = available_plots")
    assert plots(conn, [p1, p2]) == [2, 0]
    assert_counters_exact(conn)


def test_new_project_counter_starts_at_zero(conn: Conn) -> None:
    ws = make_workspace(conn)
    project = scalar(
        conn,
        "INSERT INTO real_estate.project (workspace_id, name, available_plots)"
        " VALUES (%s, 'p', 5) RETURNING id",
        (ws,),
    )
    assert available_plots(conn, project) == 0
    assert_counters_exact(conn)


def test_counter_written_by_a_host_trigger_is_refused(
    conn: Conn, world: tuple[uuid.UUID, list[uuid.UUID]]
) -> None:
    ws, (p1, _, _) = world
    conn.execute(
        """
        CREATE FUNCTION public.legacy_count() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE real_estate.project SET available_plots = available_plots + 1
             WHERE id = NEW.project_id AND NEW.status = 'AVAILABLE';
            RETURN NULL;
        END $$
        """
    )
    conn.execute(
        "CREATE TRIGGER legacy_count AFTER INSERT ON real_estate.property"
        " FOR EACH ROW EXECUTE FUNCTION public.legacy_count()"
    )

    try:
        make_properties(conn, ws, p1, 1)
    except psycopg.Error as exc:  # the expected outcome: refused, nothing written
        assert exc.sqlstate == "RE011"
    assert_counters_exact(conn)


def test_concurrent_writers_in_opposite_orders_never_deadlock(connect: Connect) -> None:
    """Each writer's statements touch P1 then P2 for one thread and P2 then P1 for the other
    (by physical order and by id order alike), many times over; the counter locks are taken
    in project id order, so there is never a deadlock, and the counters stay exact."""
    setup = connect()
    ws = make_workspace(setup)
    p1, p2 = make_project(setup, ws, "p1"), make_project(setup, ws, "p2")
    low, high = sorted([uuid.uuid4(), uuid.uuid4()]), sorted([uuid.uuid4(), uuid.uuid4()])
    # thread a: P1's row first (lower id, inserted first); thread b: P2's row first
    rows = {"a": [(low[0], p1), (low[1], p2)], "b": [(high[0], p2), (high[1], p1)]}
    for name in ("a", "b"):
        for pid, project in rows[name]:
            setup.execute(
                "INSERT INTO real_estate.property (id, workspace_id, project_id)"
                " VALUES (%s, %s, %s)",
                (pid, ws, project),
            )
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    iterations = 150

    def writer(name: str) -> None:
        c = connect()
        ids = [pid for pid, _ in rows[name]]
        projects = [project for _, project in rows[name]]
        try:
            for i in range(iterations):
                barrier.wait(timeout=20)
                c.execute(
                    "UPDATE real_estate.property SET status = CASE status"
                    " WHEN 'AVAILABLE' THEN 'SOLD' ELSE 'AVAILABLE' END WHERE id = ANY (%s)",
                    (ids,),
                )
                extra = [uuid.uuid4(), uuid.uuid4()]
                c.execute(
                    "INSERT INTO real_estate.property (id, workspace_id, project_id)"
                    " VALUES (%s, %s, %s), (%s, %s, %s)",
                    (extra[0], ws, projects[0], extra[1], ws, projects[1]),
                )
                with c.transaction():  # one statement in an explicit transaction
                    c.execute(
                        "DELETE FROM real_estate.property WHERE id = ANY (%s)"
                        if i % 2
                        else "UPDATE real_estate.property SET status = 'SOLD' WHERE id = ANY (%s)",
                        (extra,),
                    )
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert not [e for e in errors if isinstance(e, psycopg.errors.DeadlockDetected)], errors
    assert not errors, errors
    # 150 toggles: back to AVAILABLE; the extra rows were deleted or sold
    assert plots(setup, [p1, p2]) == [2, 2]
    assert_counters_exact(setup)


def test_counters_exact_helper_detects_drift(conn: Conn) -> None:
    """The helper the other tests rely on does fail on a wrong counter."""
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    make_properties(conn, ws, project, 2)
    with conn.transaction():
        conn.execute("ALTER TABLE real_estate.project DISABLE TRIGGER USER")
        conn.execute("UPDATE real_estate.project SET available_plots = 5")
        with pytest.raises(AssertionError, match="differ"):
            assert_counters_exact(conn)
        raise psycopg.Rollback()
    counts: dict[Any, int] = assert_counters_exact(conn)
    assert counts == {project: 2}


def _drift(conn: Conn) -> tuple[uuid.UUID, uuid.UUID]:
    """Two projects whose rows were written past the triggers (a replica-mode bulk load)."""
    ws = make_workspace(conn)
    one, two = make_project(conn, ws, "one"), make_project(conn, ws, "two")
    make_properties(conn, ws, one, 2)
    exact = make_project(conn, ws, "exact")
    make_properties(conn, ws, exact, 1)
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        make_properties(conn, ws, one, 3)
        make_properties(conn, ws, two, 4)
        conn.execute("DELETE FROM real_estate.property WHERE project_id = %s", (exact,))
        make_properties(conn, ws, exact, 1)
    return one, two


def test_repair_counters_corrects_drift_from_replica_mode_writes(conn: Conn) -> None:
    """check_invariants() saw the drift but nothing could repair it."""
    one, two = _drift(conn)
    drift = conn.execute(
        "SELECT object_id FROM real_estate.check_invariants()"
        " WHERE violation = 'counter_drift' ORDER BY 1"
    ).fetchall()
    assert sorted(r[0] for r in drift) == sorted([str(one), str(two)])
    assert scalar(conn, "SELECT real_estate.repair_counters()") == 2
    assert plots(conn, [one, two]) == [5, 4]
    assert_counters_exact(conn)
    assert scalar(conn, "SELECT count(*) FROM real_estate.check_invariants()") == 0
    assert scalar(conn, "SELECT real_estate.repair_counters()") == 0
    # the guard is back once it returned
    with pytest.raises(psycopg.Error) as refused:
        conn.execute("UPDATE real_estate.project SET available_plots = 9 WHERE id = %s", (one,))
    assert refused.value.sqlstate == "RE011"


def test_repair_counters_is_the_owners_only(conn: Conn) -> None:
    rows = conn.execute(
        "SELECT r, has_function_privilege(r, 'real_estate.repair_counters()', 'EXECUTE')"
        " FROM unnest(ARRAY['real_estate_app', 'real_estate_reader', 'public']) AS r"
    ).fetchall()
    assert rows == [("real_estate_app", False), ("real_estate_reader", False), ("public", False)]


def test_repair_counters_refuses_repeatable_read(conn: Conn) -> None:
    _drift(conn)
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with pytest.raises(psycopg.Error) as refused:
            conn.execute("SELECT real_estate.repair_counters()")
        assert refused.value.sqlstate == "RE010"
