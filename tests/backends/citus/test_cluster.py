"""What stays Citus-specific (coordinator + 2 workers, through the coordinator): the
distribution itself, each statement of a batch or of a lifecycle call routed to one worker
and committed there in one phase, the release's shard groups being Citus's, event ids given
out by the coordinator. The behaviours themselves run on both back-ends (tests/backends).

Every test makes workspaces of its own in the session's distributed database (``cdb``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from typing import Any

import psycopg
import pytest
from backend import tenants
from cluster import DBNAME, SHARD_COUNT, Cluster
from factories import make_properties, violations

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


def plots(conn: Conn, project_id: uuid.UUID) -> int:
    row = conn.execute(
        "SELECT available_plots FROM real_estate.project WHERE id = %s", (project_id,)
    ).fetchone()
    assert row is not None
    return row[0]


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


def test_the_release_shard_groups_are_the_shards(cconn: Conn) -> None:
    """The group the release gives a row (its workspace's uuid_hash among shard_bounds())
    is the shard Citus puts it in: same group, same shard, and groups in shard order."""
    pairs = cconn.execute(
        """
        SELECT width_bucket(uuid_hash(w.id), real_estate.shard_bounds()),
               get_shard_id_for_distribution_column('real_estate.property', w.id)
          FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, 200)) AS w
        """
    ).fetchall()
    shards_of: dict[int, set[int]] = {}
    for group, shard in pairs:
        shards_of.setdefault(group, set()).add(shard)
    assert sorted(shards_of) == list(range(1, SHARD_COUNT + 1))
    assert all(len(shards) == 1 for shards in shards_of.values())
    ordered = [min(shards_of[g]) for g in sorted(shards_of)]
    assert ordered == sorted(ordered)


def test_a_release_spans_both_workers_one_shard_group_per_statement(cconn: Conn) -> None:
    active = tenants(cconn, 8)
    assert len(workers_of(cconn, [ws for ws, _ in active])) == 2
    expired: list[uuid.UUID] = []
    for ws, project in active:
        expired += make_properties(cconn, ws, project, 3, "RESERVED", expired=True)
    with RemoteLog(cconn) as log:
        released = cconn.execute("SELECT real_estate.release_expired_reservations(2)").fetchone()
    assert released is not None and released[0] >= len(expired)
    batches = [(s, d) for s, d in log.lines if s.startswith("WITH locked_project")]
    assert len(batches) >= len(expired) // 2
    for statement, _ in batches:  # each names one shard of property and one of project
        assert len(set(re.findall(r"real_estate\.property_(\d+)", statement))) == 1, statement
        assert len(set(re.findall(r"real_estate\.project_(\d+)", statement))) == 1, statement
    assert len({d.split("@")[1].split(" ")[0] for _, d in batches}) == 2  # both workers
    assert violations(cconn) == []


def test_event_ids_come_from_the_coordinators_sequence(cconn: Conn) -> None:
    """Ids given out by the coordinator, in the order of the inserts, across both workers
    (a worker's own sequence starts at its group id << 48): release_events() relies on it."""
    active = tenants(cconn, 6)
    for ws, project in active:
        make_properties(cconn, ws, project, 2, "RESERVED", expired=True)
    before = cconn.execute("SELECT coalesce(max(id), 0) FROM real_estate.release_event").fetchone()
    cconn.execute("CALL real_estate.run_release_job(1)")
    ids = [
        r[0]
        for r in cconn.execute(
            "SELECT id FROM real_estate.release_event WHERE id > %s ORDER BY released_at, id",
            before,
        ).fetchall()
    ]
    assert len(ids) >= 12
    assert max(ids) < 1 << 32
    assert ids == sorted(ids)


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


def test_a_scheduled_run_leaves_a_shard_group_another_run_is_releasing(
    cconn: Conn, cdb: str
) -> None:
    """Concurrent scheduled runs split the shard groups: a batch takes its group (an advisory
    lock for its transaction), and a run that finds its group taken leaves those rows to the
    run holding it (here a session holding the same lock) or to the next run."""
    active = tenants(cconn, 8)
    rows: dict[uuid.UUID, list[uuid.UUID]] = {}
    for ws, project in active:
        rows[ws] = make_properties(cconn, ws, project, 2, "RESERVED", expired=True)
    group_of = dict(
        cconn.execute(
            "SELECT w.id, width_bucket(uuid_hash(w.id), real_estate.shard_bounds())"
            " FROM unnest(%s::uuid[]) AS w(id)",
            (list(rows),),
        ).fetchall()
    )
    taken = group_of[active[0][0]]
    with psycopg.connect(cdb, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(1920430, %s)", (taken,))
        cconn.execute("CALL real_estate.run_release_job(2)")
        left = {
            r[0]
            for r in cconn.execute(
                "SELECT workspace_id FROM real_estate.property"
                " WHERE workspace_id = ANY (%s) AND status = 'RESERVED'",
                (list(rows),),
            ).fetchall()
        }
        assert left == {ws for ws, g in group_of.items() if g == taken}
    cconn.execute("CALL real_estate.run_release_job(2)")  # the group is free again
    assert cconn.execute(
        "SELECT count(*) FROM real_estate.property"
        " WHERE workspace_id = ANY (%s) AND status = 'RESERVED'",
        (list(rows),),
    ).fetchone() == (0,)
    assert violations(cconn) == []


# ----------------------------------------------------------------------------- reserve


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


def test_lifecycle_calls_lock_and_write_on_one_worker(cconn: Conn) -> None:
    """By id alone: the workspace is read on every shard first (read-only), then the row is
    locked and written on its worker, committed there in one phase."""
    [(ws, project)] = tenants(cconn, 1)
    a, b = make_properties(cconn, ws, project, 2)
    holder = uuid.uuid4()
    for pid in (a, b):
        pyrelease.reserve(cconn, pid, holder)
    for call, params in [
        ("SELECT real_estate.extend_reservation(%s, %s)", (a, holder)),
        ("SELECT real_estate.confirm_sale(%s, %s)", (a, holder)),
        ("SELECT real_estate.cancel_reservation(%s, %s)", (b, holder)),
        ("SELECT real_estate.reserve_property(%s, %s)", (b, holder)),
    ]:
        with RemoteLog(cconn) as log:
            cconn.execute(call, params)
        writes = [
            (s, d)
            for s, d in log.lines
            if re.match(r"(SELECT .* FOR UPDATE|UPDATE|INSERT|WITH)", s, flags=re.S)
            or " FOR UPDATE" in s
        ]
        assert writes, (call, log.lines)
        assert len({d.split("@")[1].split(" ")[0] for _, d in writes}) == 1, (call, writes)
        assert log.count("PREPARE") == 0, (call, log.lines)
    assert violations(cconn) == []


# ----------------------------------------------------------------------------- pg_cron


def test_migrate_schedules_the_job_on_the_coordinator(cdb: str, citus: Cluster) -> None:
    pyrelease.migrate(cdb)  # the session's database has no job: this one registers it
    try:
        with psycopg.connect(citus.dsn(), autocommit=True) as c:  # pg_cron's database
            rows = c.execute(
                "SELECT command, database FROM cron.job WHERE jobname LIKE 'release-expired-%%'"
                " AND database = %s",
                (DBNAME,),
            ).fetchall()
        assert ("CALL real_estate.run_release_job()", DBNAME) in rows
    finally:
        pyrelease.unschedule(cdb)
