"""pyrelease's promises on a Citus cluster (coordinator + 2 workers), through the coordinator.

Every test makes workspaces of its own in the session's distributed database (``cdb``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from cluster import SHARD_COUNT, Cluster
from factories import make_project, make_properties, make_workspace

import pyrelease

Conn = psycopg.Connection[Any]


def workers_of(conn: Conn, workspace_ids: list[uuid.UUID]) -> set[int]:
    """The ports of the workers that hold these workspaces' property shards."""
    rows = conn.execute(
        """
        SELECT DISTINCT s.nodeport
          FROM unnest(%s::uuid[]) AS w(id)
          JOIN citus_shards AS s
            ON s.shardid = get_shard_id_for_distribution_column('real_estate.property', w.id)
        """,
        (workspace_ids,),
    ).fetchall()
    return {r[0] for r in rows}


def tenants(conn: Conn, n: int = 8, status: str = "ACTIVE") -> list[tuple[uuid.UUID, uuid.UUID]]:
    """n workspaces with one project each: [(workspace_id, project_id)]."""
    out = []
    for _ in range(n):
        ws = make_workspace(conn, status)  # type: ignore[arg-type]
        out.append((ws, make_project(conn, ws)))
    return out


def plots(conn: Conn, project_id: uuid.UUID) -> int:
    row = conn.execute(
        "SELECT available_plots FROM real_estate.project WHERE id = %s", (project_id,)
    ).fetchone()
    assert row is not None
    return row[0]


def violations(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM real_estate.check_invariants()").fetchall()


class RemoteLog:
    """The statements the coordinator sends to workers (citus.log_remote_commands)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.lines: list[tuple[str, str]] = []

    def __enter__(self) -> RemoteLog:
        self.conn.add_notice_handler(self._on_notice)
        self.conn.execute("SET citus.log_remote_commands = on")
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.execute("RESET citus.log_remote_commands")
        self.conn.remove_notice_handler(self._on_notice)

    def _on_notice(self, diag: psycopg.errors.Diagnostic) -> None:
        message = diag.message_primary or ""
        if message.startswith("issuing "):
            self.lines.append((message[len("issuing ") :], diag.message_detail or ""))

    def ports(self) -> set[str]:
        return {d.split("@")[1].split(" ")[0] for _, d in self.lines if "@" in d}

    def count(self, prefix: str) -> int:
        return sum(1 for s, _ in self.lines if s.startswith(prefix))


# ----------------------------------------------------------------------------- distribute


def test_tables_are_distributed_co_located_over_both_workers(cconn: Conn, citus: Cluster) -> None:
    rows = cconn.execute(
        "SELECT table_name::text, distribution_column, colocation_id, shard_count"
        " FROM citus_tables WHERE table_name::text LIKE 'real_estate.%' ORDER BY 1"
    ).fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("real_estate.project", "workspace_id", SHARD_COUNT),
        ("real_estate.property", "workspace_id", SHARD_COUNT),
        ("real_estate.release_event", "workspace_id", SHARD_COUNT),
        ("real_estate.workspace", "id", SHARD_COUNT),
    ]
    assert len({r[2] for r in rows}) == 1, "one co-location group"
    nodes = cconn.execute(
        "SELECT DISTINCT nodeport FROM citus_shards"
        " WHERE table_name = 'real_estate.property'::regclass"
    ).fetchall()
    assert {n[0] for n in nodes} == set(citus.worker_ports)


def test_distribute_is_idempotent(cdb: str) -> None:
    steps = pyrelease.distribute(cdb)
    assert [s.action for s in steps if "routines" not in s.object] == ["already"] * 7


def test_distribute_refuses_in_one_line_without_workers_or_citus(citus: Cluster) -> None:
    no_workers = citus.create_database("pyrelease_citus_lonely", add_workers=False)
    no_citus = citus.create_database("pyrelease_citus_none", citus=False)
    for dsn, expected in [
        (no_workers, "no active worker"),
        (no_citus, "Citus is not installed in database pyrelease_citus_none"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "pyrelease.cli", "--dsn", dsn, "distribute"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 1, done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("pyrelease: error")]
        assert len(errors) == 1 and expected in errors[0], done.stderr
    with pytest.raises(pyrelease.NotDistributable):
        pyrelease.distribute(no_workers)


# ----------------------------------------------------------------------------- counters


def test_counters_exact_after_every_statement_on_the_shards(cconn: Conn) -> None:
    (ws1, p1), (ws2, p2) = tenants(cconn, 2)
    a = make_properties(cconn, ws1, p1, 5)
    make_properties(cconn, ws2, p2, 3)
    assert (plots(cconn, p1), plots(cconn, p2)) == (5, 3)
    cconn.execute(
        "UPDATE real_estate.property SET status = 'SOLD' WHERE workspace_id = %s AND id = %s",
        (ws1, a[0]),
    )
    assert plots(cconn, p1) == 4
    # One statement over two workspaces (possibly two workers): each shard counts its own.
    cconn.execute(
        "UPDATE real_estate.property SET status = 'SOLD'"
        " WHERE workspace_id = ANY (%s) AND status = 'AVAILABLE' AND name = 'property 2'",
        ([ws1, ws2],),
    )
    assert (plots(cconn, p1), plots(cconn, p2)) == (3, 2)
    cconn.execute("DELETE FROM real_estate.property WHERE workspace_id = %s", (ws2,))
    assert plots(cconn, p2) == 0
    with pytest.raises(psycopg.Error) as refused:
        cconn.execute(
            "UPDATE real_estate.project SET available_plots = 99 WHERE workspace_id = %s", (ws1,)
        )
    assert refused.value.sqlstate == "RE011"
    assert plots(cconn, p1) == 3
    assert violations(cconn) == []


def test_reinstall_after_distribute_keeps_counters_and_truncate(citus: Cluster) -> None:
    dsn = citus.create_database("pyrelease_citus_truncate")
    pyrelease.migrate(dsn)
    pyrelease.distribute(dsn, shard_count=SHARD_COUNT)
    with psycopg.connect(dsn, autocommit=True) as conn:
        # A later migrate whose plpgsql/ changed re-creates every routine and trigger on the
        # distributed tables (CREATE OR REPLACE TRIGGER, citus.enable_unsafe_triggers).
        conn.execute("DELETE FROM real_estate.routine_source")
    pyrelease.migrate(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        pairs = tenants(conn, 6)
        for ws, project in pairs:
            make_properties(conn, ws, project, 2)
        assert len(workers_of(conn, [ws for ws, _ in pairs])) == 2
        conn.execute("TRUNCATE real_estate.property")
        assert {plots(conn, p) for _, p in pairs} == {0}
        assert violations(conn) == []


# ----------------------------------------------------------------------------- release


def test_release_covers_every_worker_with_events_and_a_run(cconn: Conn) -> None:
    active = tenants(cconn, 8)
    inactive = tenants(cconn, 1, "INACTIVE")
    assert len(workers_of(cconn, [ws for ws, _ in active])) == 2
    expired: list[uuid.UUID] = []
    for ws, project in active + inactive:
        ids = make_properties(cconn, ws, project, 3, "RESERVED", expired=True)
        make_properties(cconn, ws, project, 2, "RESERVED", expired=False)
        make_properties(cconn, ws, project, 1)
        if (ws, project) in active:
            expired += ids
    released = cconn.execute("SELECT real_estate.release_expired_reservations(2)").fetchone()
    assert released is not None and released[0] >= len(expired), cconn.execute(
        "SELECT error FROM real_estate.release_run"
    ).fetchall()
    events = cconn.execute(
        "SELECT property_id, run_id FROM real_estate.release_event WHERE property_id = ANY (%s)",
        (expired,),
    ).fetchall()
    assert {e[0] for e in events} == set(expired)
    run_ids = {e[1] for e in events}
    assert len(run_ids) == 1
    run = cconn.execute(
        "SELECT source, finished_at IS NOT NULL, released"
        " FROM real_estate.release_run WHERE id = %s",
        (run_ids.pop(),),
    ).fetchone()
    assert run is not None and run[0] == "call" and run[1] and run[2] >= len(expired)
    for _ws, project in active:
        assert plots(cconn, project) == 4  # 1 available + 3 released
    ws_inactive, p_inactive = inactive[0]
    assert plots(cconn, p_inactive) == 1
    left = cconn.execute(
        "SELECT count(*) FROM real_estate.property"
        " WHERE workspace_id = %s AND status = 'RESERVED' AND reserved_until <= now()",
        (ws_inactive,),
    ).fetchone()
    assert left == (3,)
    assert violations(cconn) == []


def test_scheduled_procedure_commits_each_batch_on_one_worker(cconn: Conn) -> None:
    active = tenants(cconn, 6)
    expired = []
    for ws, project in active:
        expired += make_properties(cconn, ws, project, 5, "RESERVED", expired=True)
    with RemoteLog(cconn) as log:
        cconn.execute("CALL real_estate.run_release_job(3)")
    left = cconn.execute(
        "SELECT count(*) FROM real_estate.property WHERE id = ANY (%s) AND status = 'RESERVED'",
        (expired,),
    ).fetchone()
    assert left == (0,)
    run = cconn.execute(
        "SELECT source, finished_at IS NOT NULL, released, failed FROM real_estate.release_run"
        " ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert run is not None and run[0] == "pg_cron" and run[1] and run[2] >= len(expired)
    # Every batch commits on one worker (plain COMMIT); only the purge at the end, a DELETE
    # on every shard of release_event, commits in two phases (once per run).
    assert log.count("COMMIT") >= len(expired) // 3
    prepared = {s.split("'")[1].rsplit("_", 1)[0] for s, _ in log.lines if s.startswith("PREPARE")}
    assert len(prepared) <= 1, prepared
    assert violations(cconn) == []


def test_release_skips_a_row_held_on_a_worker_and_takes_it_next_run(
    cconn: Conn, citus: Cluster, cdb: str
) -> None:
    [(ws, project)] = tenants(cconn, 1)
    held, *others = make_properties(cconn, ws, project, 4, "RESERVED", expired=True)
    shard, port = cconn.execute(
        "SELECT s.shard_name, s.nodeport FROM citus_shards AS s"
        " WHERE s.shardid = get_shard_id_for_distribution_column('real_estate.property', %s)",
        (ws,),
    ).fetchone() or (None, None)
    assert port in citus.worker_ports
    with psycopg.connect(citus.dsn(cdb.rsplit("/", 1)[1], port)) as worker:
        worker.execute(f"SELECT 1 FROM {shard} WHERE id = %s FOR UPDATE", (held,))
        cconn.execute("SET statement_timeout = '5s'")
        try:
            cconn.execute("CALL real_estate.run_release_job()")
        finally:
            cconn.execute("RESET statement_timeout")
        states = dict(
            cconn.execute(
                "SELECT id, status FROM real_estate.property WHERE workspace_id = %s", (ws,)
            ).fetchall()
        )
        assert states[held] == "RESERVED"
        assert {states[i] for i in others} == {"AVAILABLE"}
        worker.rollback()
    cconn.execute("CALL real_estate.run_release_job()")
    status = cconn.execute(
        "SELECT status FROM real_estate.property WHERE workspace_id = %s AND id = %s", (ws, held)
    ).fetchone()
    assert status == ("AVAILABLE",)
    assert plots(cconn, project) == 4
    assert violations(cconn) == []


def test_release_does_not_wait_on_a_counter_held_by_an_application(cconn: Conn, cdb: str) -> None:
    [(ws, project)] = tenants(cconn, 1)
    make_properties(cconn, ws, project, 2, "RESERVED", expired=True)
    fresh = make_properties(cconn, ws, project, 1)
    with psycopg.connect(cdb) as app:
        # An application transaction changing a property holds the project's counter row.
        app.execute(
            "UPDATE real_estate.property SET status = 'SOLD' WHERE workspace_id = %s AND id = %s",
            (ws, fresh[0]),
        )
        done = threading.Event()

        def release() -> None:
            with psycopg.connect(cdb, autocommit=True) as other:
                other.execute("SET statement_timeout = '5s'")
                other.execute("SELECT real_estate.release_expired_reservations()")
            done.set()

        t = threading.Thread(target=release)
        t.start()
        t.join(10)
        assert done.is_set(), "the release waited on the held counter row"
        app.rollback()
    assert plots(cconn, project) == 1


# ----------------------------------------------------------------------------- reserve


def test_reserve_and_release_by_id_and_by_workspace(cconn: Conn) -> None:
    (ws, project), (ws_off, p_off) = tenants(cconn, 1)[0], tenants(cconn, 1, "SUSPENDED")[0]
    free = make_properties(cconn, ws, project, 2)
    [gone] = make_properties(cconn, ws, project, 1, "RESERVED", expired=True)
    [sold] = make_properties(cconn, ws, project, 1, "SOLD")
    [off] = make_properties(cconn, ws_off, p_off, 1)
    buyer = uuid.uuid4()
    with psycopg.connect(cconn.info.dsn, autocommit=True) as c:
        assert pyrelease.reserve(c, free[0], buyer) is not None
        with pytest.raises(pyrelease.PropertyReserved):
            pyrelease.reserve(c, free[0], uuid.uuid4())
        with pytest.raises(pyrelease.PropertySold):
            pyrelease.reserve(c, sold, buyer)
        with pytest.raises(pyrelease.WorkspaceNotActive):
            pyrelease.reserve(c, off, buyer)
        with pytest.raises(pyrelease.PropertyNotFound):
            pyrelease.reserve(c, uuid.uuid4(), buyer)
        # Takeover of an expired reservation: logged as released, then reserved.
        assert pyrelease.reserve(c, gone, buyer) is not None
        assert c.execute(
            "SELECT count(*) FROM real_estate.release_event WHERE property_id = %s", (gone,)
        ).fetchone() == (1,)
        assert not pyrelease.release_reservation(c, free[0])  # not expired
        row = c.execute(
            "SELECT real_estate.reserve_property_in_workspace(%s, %s, %s, interval '1 hour')"
            " > now()",
            (ws, free[1], buyer),
        ).fetchone()
        assert row == (True,)
    assert plots(cconn, project) == 0
    assert violations(cconn) == []


def test_workspace_calls_and_writes_are_single_shard(cconn: Conn) -> None:
    [(ws, project)] = tenants(cconn, 1)
    [pid] = make_properties(cconn, ws, project, 1)
    plan = "\n".join(
        r[0]
        for r in cconn.execute(
            "EXPLAIN UPDATE real_estate.property SET name = 'x'"
            " WHERE workspace_id = %s AND id = %s",
            (ws, pid),
        ).fetchall()
    )
    assert "Task Count: 1" in plan, plan
    with RemoteLog(cconn) as log:
        cconn.execute(
            "SELECT real_estate.reserve_property_in_workspace(%s, %s, %s)", (ws, pid, uuid.uuid4())
        )
    assert len(log.ports()) == 1, log.lines
    assert log.count("PREPARE") == 0
    with RemoteLog(cconn) as log:
        cconn.execute(
            "INSERT INTO real_estate.property (workspace_id, project_id, name)"
            " VALUES (%s, %s, 'n')",
            (ws, project),
        )
    assert len(log.ports()) == 1 and log.count("PREPARE") == 0, log.lines


# ----------------------------------------------------------------------------- views


def test_views_and_invariants_on_the_cluster(cconn: Conn) -> None:
    pairs = tenants(cconn, 4)
    for ws, project in pairs:
        make_properties(cconn, ws, project, 2, "RESERVED", expired=True)
        make_properties(cconn, ws, project, 1)
    ws0, p0 = pairs[0]
    eff = cconn.execute(
        "SELECT available_plots, effective_available_plots, release_pending"
        " FROM real_estate.project_availability WHERE id = %s",
        (p0,),
    ).fetchone()
    assert eff == (1, 3, 2)
    statuses = cconn.execute(
        "SELECT status, stored_status, release_pending FROM real_estate.property_availability"
        " WHERE workspace_id = %s ORDER BY stored_status",
        (ws0,),
    ).fetchall()
    assert statuses == [
        ("AVAILABLE", "AVAILABLE", False),
        ("AVAILABLE", "RESERVED", True),
        ("AVAILABLE", "RESERVED", True),
    ]
    backlog = cconn.execute(
        "SELECT expired_reservations FROM real_estate.release_backlog"
    ).fetchone()
    assert backlog is not None and backlog[0] >= 8
    assert violations(cconn) == []
    cconn.execute("SELECT real_estate.release_expired_reservations()")
    assert cconn.execute(
        "SELECT expired_reservations FROM real_estate.release_backlog"
    ).fetchone() == (0,)


def test_the_health_rule_and_status_read_the_cluster(cconn: Conn, cdb: str) -> None:
    """release_health() and `status --json` (which runs its body) read the distributed tables
    through the coordinator: the backlog of every worker, the counter drift."""
    for ws, project in tenants(cconn, 4):
        make_properties(cconn, ws, project, 1, "RESERVED", expired=True)
    try:
        row = cconn.execute(
            "SELECT backlog, counter_drift FROM real_estate.release_health()"
        ).fetchone()
        assert row is not None and row[0] >= 4 and row[1] == 0
        done = subprocess.run(
            [sys.executable, "-m", "pyrelease.cli", "--dsn", cdb, "status", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert (report["backlog"], report["counter_drift"]) == row
    finally:
        cconn.execute("SELECT real_estate.release_expired_reservations()")


def test_concurrent_scheduled_runs_split_the_shard_groups(cconn: Conn, cdb: str) -> None:
    pairs = tenants(cconn, 8)
    expired = []
    for ws, project in pairs:
        expired += make_properties(cconn, ws, project, 6, "RESERVED", expired=True)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(cdb, autocommit=True) as c:
                c.execute("CALL real_estate.run_release_job(2)")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    rows = cconn.execute(
        "SELECT count(*), count(DISTINCT run_id) FROM real_estate.release_event"
        " WHERE property_id = ANY (%s)",
        (expired,),
    ).fetchone()
    assert rows is not None and rows[0] == len(expired)  # each released exactly once
    assert violations(cconn) == []


# ----------------------------------------------------------------------------- pg_cron


def test_migrate_scheduled_the_job_on_the_coordinator(cconn: Conn, citus: Cluster) -> None:
    with psycopg.connect(citus.dsn(), autocommit=True) as c:  # pg_cron's database
        rows = c.execute(
            "SELECT command, database FROM cron.job WHERE jobname LIKE 'release-expired-%%'"
            " AND database = %s",
            (cconn.info.dbname,),
        ).fetchall()
    assert ("CALL real_estate.run_release_job()", cconn.info.dbname) in rows


@pytest.mark.slow
def test_pg_cron_tick_on_the_coordinator_releases_on_the_workers(cconn: Conn) -> None:
    pairs = tenants(cconn, 4)
    expired = []
    for ws, project in pairs:
        expired += make_properties(cconn, ws, project, 2, "RESERVED", expired=True)
    from pyrelease import cron

    cron.schedule(cconn, "* * * * *")
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            left = cconn.execute(
                "SELECT count(*) FROM real_estate.property"
                " WHERE id = ANY (%s) AND status = 'RESERVED'",
                (expired,),
            ).fetchone()
            if left == (0,):
                break
            time.sleep(1)
        assert left == (0,), "no pg_cron tick released them within 90 s"
        run = cconn.execute(
            "SELECT r.source FROM real_estate.release_event AS e"
            " JOIN real_estate.release_run AS r ON r.id = e.run_id"
            " WHERE e.property_id = %s",
            (expired[0],),
        ).fetchone()
        assert run == ("pg_cron",)
    finally:
        cron.schedule(cconn)  # back to the default schedule
    assert violations(cconn) == []
