"""The counters, on a single node and on Citus alike (where the trigger fires on the shards):
available_plots exact after every statement, whoever writes, and nobody else's to write."""

from __future__ import annotations

import psycopg
import pytest
from backend import Backend, Conn
from factories import available_plots, make_project, make_properties, make_workspace, scalar


def test_counters_exact_after_every_statement(backend: Backend, bconn: Conn) -> None:
    ws1, ws2 = make_workspace(bconn), make_workspace(bconn)
    p1, p2 = make_project(bconn, ws1), make_project(bconn, ws2)
    a = make_properties(bconn, ws1, p1, 5)
    make_properties(bconn, ws2, p2, 3)
    make_properties(bconn, ws2, p2, 2, "RESERVED", expired=False)
    assert (available_plots(bconn, p1), available_plots(bconn, p2)) == (5, 3)
    bconn.execute(
        "UPDATE real_estate.property SET status = 'SOLD' WHERE workspace_id = %s AND id = %s",
        (ws1, a[0]),
    )
    assert available_plots(bconn, p1) == 4
    # One statement over two workspaces (on Citus possibly two workers): each shard counts
    # its own rows.
    bconn.execute(
        "UPDATE real_estate.property SET status = 'SOLD'"
        " WHERE workspace_id = ANY (%s) AND status = 'AVAILABLE' AND name = 'property 2'",
        ([ws1, ws2],),
    )
    assert (available_plots(bconn, p1), available_plots(bconn, p2)) == (3, 2)
    bconn.execute(
        "UPDATE real_estate.property SET status = 'AVAILABLE', reserved_by_id = NULL,"
        " reserved_until = NULL WHERE workspace_id = %s AND status = 'RESERVED'",
        (ws2,),
    )
    assert available_plots(bconn, p2) == 4
    bconn.execute("DELETE FROM real_estate.property WHERE workspace_id = %s", (ws2,))
    assert available_plots(bconn, p2) == 0
    bconn.execute("TRUNCATE real_estate.property")
    assert available_plots(bconn, p1) == 0
    assert bconn.execute("SELECT * FROM real_estate.check_invariants()").fetchall() == []


@pytest.mark.parametrize(
    "write",
    [
        "UPDATE real_estate.project SET available_plots = 99 WHERE workspace_id = %s",
        "UPDATE real_estate.project SET available_plots = available_plots + 1"
        " WHERE workspace_id = %s",
    ],
)
def test_a_direct_counter_write_is_refused(backend: Backend, bconn: Conn, write: str) -> None:
    ws = make_workspace(bconn)
    project = make_project(bconn, ws)
    make_properties(bconn, ws, project, 2)
    with pytest.raises(psycopg.Error) as refused:
        bconn.execute(write, (ws,))
    assert refused.value.sqlstate == "RE011"
    assert available_plots(bconn, project) == 2
    # A new project starts at 0, whatever its INSERT says.
    row = bconn.execute(
        "INSERT INTO real_estate.project (workspace_id, name, available_plots)"
        " VALUES (%s, 'x', 99) RETURNING available_plots",
        (ws,),
    ).fetchone()
    assert row == (0,)
    assert scalar(bconn, "SELECT count(*) FROM real_estate.check_invariants()") == 0
