"""Security: least privilege and search_path safety.

* PUBLIC gets nothing in schema real_estate;
* real_estate_reader reads, real_estate_app also writes its own rows and calls the three
  public functions, and neither can write the logs or the counter, call the internals,
  release a reservation early, or touch the pg_cron release job;
* every function pins its search_path; the procedure (which cannot) only uses
  schema-qualified names;
* a hostile search_path (schema `evil` and pg_temp full of look-alike functions,
  operators, types and tables) changes nothing about what the release does, for a
  superuser and for an application login alike.

Test roles are cluster-wide, so each gets a unique name (sec_<kind>_<random>) and is dropped
at teardown.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from factories import (
    assert_counters_exact,
    make_project,
    make_properties,
    make_workspace,
    property_row,
    scalar,
)
from psycopg import sql
from psycopg.conninfo import make_conninfo

import pyrelease
from pyrelease import CounterIsReadOnly, cron
from pyrelease.errors import translated

Conn = psycopg.Connection[Any]

PLPGSQL = Path(__file__).resolve().parents[2] / "plpgsql"
PINNED = "search_path=pg_catalog, pg_temp"
TABLES = [
    "workspace",
    "project",
    "property",
    "release_run",
    "release_event",
    "release_schedule",
    "release_event_purged",
    "release_heartbeat",
]
INTERNAL_TABLES = [
    "routine_source",  # the post-apply step's record: nobody else reads it
    "release_notification",  # transient rows behind the release NOTIFY
]
VIEWS = ["property_availability", "project_availability", "release_backlog"]
PUBLIC_FUNCTIONS = {
    "reserve_property",
    "release_reservation",
    "release_expired_reservations",
    "extend_reservation",
    "cancel_reservation",
    "confirm_sale",
    # Their Citus-routed twins (pyrelease distribute): the same calls, given the workspace.
    "reserve_property_in_workspace",
    "release_reservation_in_workspace",
}
# release_event_floor: what release_events() calls, as the caller, to read the writers' floors
READER_FUNCTIONS = {"check_invariants", "release_events", "release_event_floor", "release_health"}
INTERNALS = {
    "release_rows": "SELECT real_estate.release_rows(1, 'expired', '{}', '{}')",
    "release_batch": "SELECT real_estate.release_batch('call', 1, '{}', NULL, NULL, NULL)",
    "release_pick": "SELECT * FROM real_estate.release_pick()",
    "lock_property": "SELECT * FROM real_estate.lock_property(NULL, gen_random_uuid())",
    "reserve": "SELECT real_estate.reserve(NULL, gen_random_uuid(), gen_random_uuid(), '1 h')",
    "end_reservation": "SELECT real_estate.end_reservation(NULL, gen_random_uuid(), NULL)",
    "apply_counter_deltas": "SELECT real_estate.apply_counter_deltas('{}', '{}', '{}')",
    "release_event_notify_arm": "SELECT real_estate.release_event_notify_arm(1, 1, 1)",
    "release_batch_ends": "SELECT real_estate.release_batch_ends('{}', 1, '{}')",
    "shard_bounds": "SELECT real_estate.shard_bounds()",
    "not_null": "SELECT real_estate.not_null(1, 'x')",
    "expiry_after": "SELECT real_estate.expiry_after('1 hour')",
    "check_batch_size": "SELECT real_estate.check_batch_size(1)",
    "release_cutoff": "SELECT real_estate.release_cutoff('1 day')",
    "begin_release_run": "SELECT real_estate.begin_release_run('call')",
    "record_release_run": "SELECT real_estate.record_release_run(1, 1, 0, NULL, true)",
    "purge_release_log": "SELECT real_estate.purge_release_log('1 day')",
    "run_release_job": "CALL real_estate.run_release_job()",
    "property_sync_available_plots": "SELECT real_estate.property_sync_available_plots()",
    "project_guard_available_plots": "SELECT real_estate.project_guard_available_plots()",
    "release_event_notify": "SELECT real_estate.release_event_notify()",
    "release_event_notify_commit": "SELECT real_estate.release_event_notify_commit()",
    "release_event_announce_floor": "SELECT real_estate.release_event_announce_floor()",
    "release_event_announce": "SELECT real_estate.release_event_announce()",
}


# --------------------------------------------------------------------------- helpers


def sqlstate(conn: Conn, query: str, params: Any = None) -> str | None:
    """Run one statement (autocommit): None if it succeeded, else its SQLSTATE."""
    try:
        conn.execute(query, params)
    except psycopg.Error as exc:
        return exc.sqlstate or type(exc).__name__
    return None


def table_state(conn: Conn, schema: str = "real_estate") -> dict[str, tuple[int, str]]:
    """Row count and md5 of every table of `schema`: equal states mean nothing changed."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = %s ORDER BY 1",
            (schema,),
        ).fetchall()
    ]
    state = {}
    for name in names:
        row = conn.execute(
            sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), ''))"
                " FROM {}.{} AS t"
            ).format(sql.Identifier(schema), sql.Identifier(name))
        ).fetchone()
        assert row is not None
        state[name] = (int(row[0]), str(row[1]))
    return state


def routines(conn: Conn) -> dict[str, tuple[int, str]]:
    """name -> (oid, prokind) of every routine in schema real_estate."""
    rows = conn.execute(
        "SELECT p.proname, p.oid, p.prokind::text FROM pg_catalog.pg_proc AS p"
        " WHERE p.pronamespace = 'real_estate'::regnamespace"
    ).fetchall()
    names = [r[0] for r in rows]
    assert len(names) == len(set(names)), f"overloaded routines: {sorted(names)}"
    return {r[0]: (r[1], r[2]) for r in rows}


def executable(conn: Conn, role: str) -> set[str]:
    return {
        name
        for name, (oid, _) in routines(conn).items()
        if scalar(conn, "SELECT has_function_privilege(%s, %s::oid, 'EXECUTE')", (role, oid))
    }


@dataclass(frozen=True)
class Login:
    """A LOGIN role of this test, and how to connect as it."""

    name: str
    password: str
    dsn: str  # the test database
    cron_dsn: str  # pg_cron's database

    def connect(self, cron_db: bool = False) -> Conn:
        return psycopg.connect(self.cron_dsn if cron_db else self.dsn, autocommit=True)


MakeLogin = Callable[..., Login]


def cron_database(conn: Conn) -> str | None:
    value = scalar(conn, "SELECT current_setting('cron.database_name', true)")
    return str(value) if value else None


@pytest.fixture
def make_login(server: Any, db: str, conn: Conn) -> Iterator[MakeLogin]:
    """make_login(kind, *granted_roles, login=True) -> Login; dropped at teardown (its
    privileges and objects in the test and cron databases and its pg_cron jobs first)."""
    created: list[str] = []
    cron_db = cron_database(conn) or "postgres"
    # What migrating this database established: real_estate_app is a real_estate_reader.
    # That membership is cluster-wide and another test's rollback of 0005 in its own
    # database revokes it (test_rolling_back_another_database_keeps_this_ones_roles).
    conn.execute("GRANT real_estate_reader TO real_estate_app")
    cron_dsn_admin = server.dsn_for(cron_db)

    def factory(kind: str, *grants: str, login: bool = True) -> Login:
        name = f"sec_{kind}_{secrets.token_hex(5)}"
        password = secrets.token_hex(12)
        conn.execute(
            sql.SQL("CREATE ROLE {} {} PASSWORD {}").format(
                sql.Identifier(name),
                sql.SQL("LOGIN" if login else "NOLOGIN"),
                sql.Literal(password),
            )
        )
        created.append(name)
        for granted in grants:
            conn.execute(
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(granted), sql.Identifier(name))
            )
        return Login(
            name=name,
            password=password,
            dsn=make_conninfo(db, user=name, password=password),
            cron_dsn=make_conninfo(cron_dsn_admin, user=name, password=password),
        )

    yield factory

    for name in created:
        ident = sql.Identifier(name)
        with psycopg.connect(db, autocommit=True) as c:
            c.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,)
            )
            c.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(ident))
            c.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        if cron_db != scalar(conn, "SELECT current_database()"):
            with psycopg.connect(cron_dsn_admin, autocommit=True) as c:
                if scalar(c, "SELECT to_regclass('cron.job') IS NOT NULL"):
                    c.execute(
                        "SELECT cron.unschedule(jobid) FROM cron.job WHERE username = %s", (name,)
                    )
                c.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        elif scalar(conn, "SELECT to_regclass('cron.job') IS NOT NULL"):
            conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE username = %s", (name,))
        conn.execute(sql.SQL("DROP ROLE {}").format(ident))


@dataclass(frozen=True)
class World:
    workspace: uuid.UUID
    project: uuid.UUID
    expired: list[uuid.UUID]
    live: list[uuid.UUID]
    sold: uuid.UUID
    available: list[uuid.UUID]

    @property
    def all(self) -> list[uuid.UUID]:
        return [*self.expired, *self.live, self.sold, *self.available]


def make_world(conn: Conn, available: int = 0) -> World:
    """3 expired reservations, 3 that expire in an hour, 1 SOLD (+ `available` AVAILABLE)."""
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    expired = make_properties(conn, ws, project, 3, "RESERVED", expired=True)
    live = make_properties(conn, ws, project, 3, "RESERVED", expired=False)
    [sold] = make_properties(conn, ws, project, 1, "SOLD")
    free = make_properties(conn, ws, project, available) if available else []
    return World(ws, project, expired, live, sold, free)


def release_events(conn: Conn) -> list[uuid.UUID]:
    rows = conn.execute("SELECT property_id FROM real_estate.release_event").fetchall()
    return sorted(r[0] for r in rows)


# --------------------------------------------------------------------------- PUBLIC


def test_public_gets_nothing(conn: Conn, make_login: MakeLogin) -> None:
    nobody = make_login("nobody")
    role = nobody.name
    assert not scalar(conn, "SELECT has_schema_privilege(%s, 'real_estate', 'USAGE')", (role,))
    assert not scalar(conn, "SELECT has_schema_privilege(%s, 'real_estate', 'CREATE')", (role,))

    relations = conn.execute(
        "SELECT c.oid, c.relname, c.relkind::text FROM pg_catalog.pg_class AS c"
        " WHERE c.relnamespace = 'real_estate'::regnamespace"
        " AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
    ).fetchall()
    kinds = {name: kind for _, name, kind in relations}
    assert {n for n, k in kinds.items() if k == "r"} == set(TABLES + INTERNAL_TABLES)
    assert {n for n, k in kinds.items() if k == "v"} == set(VIEWS)
    assert {n for n, k in kinds.items() if k == "S"}  # the identity sequences are checked too
    granted = []
    for oid, name, kind in relations:
        if kind == "S":
            for priv in ("USAGE", "SELECT", "UPDATE"):
                if scalar(
                    conn, "SELECT has_sequence_privilege(%s, %s::oid, %s)", (role, oid, priv)
                ):
                    granted.append((name, priv))
            continue
        for priv in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"):
            if scalar(conn, "SELECT has_table_privilege(%s, %s::oid, %s)", (role, oid, priv)):
                granted.append((name, priv))
        if scalar(
            conn,
            "SELECT has_any_column_privilege(%s, %s::oid, 'SELECT, INSERT, UPDATE, REFERENCES')",
            (role, oid),
        ):
            granted.append((name, "some column"))
    assert granted == []

    found = routines(conn)
    expected = {p.stem for p in PLPGSQL.glob("*.sql")} - set(VIEWS)
    assert expected <= set(found), "every plpgsql/ routine is checked"
    assert found["run_release_job"][1] == "p"
    assert executable(conn, role) == set()

    # Nothing granted to PUBLIC explicitly either (grantee 0 in any ACL of the schema).
    public_acl = conn.execute(
        """
        SELECT 'schema' FROM pg_catalog.pg_namespace AS n, aclexplode(n.nspacl) AS a
         WHERE n.nspname = 'real_estate' AND a.grantee = 0
        UNION ALL
        SELECT c.relname::text FROM pg_catalog.pg_class AS c, aclexplode(c.relacl) AS a
         WHERE c.relnamespace = 'real_estate'::regnamespace AND a.grantee = 0
        UNION ALL
        SELECT p.proname::text FROM pg_catalog.pg_proc AS p, aclexplode(p.proacl) AS a
         WHERE p.pronamespace = 'real_estate'::regnamespace AND a.grantee = 0
        """
    ).fetchall()
    assert public_acl == []

    # And for real, through a login with no grants at all.
    make_world(conn)
    before = table_state(conn)
    with nobody.connect() as c:
        for query in [
            "SELECT count(*) FROM real_estate.property",
            "SELECT * FROM real_estate.property_availability",
            "SELECT real_estate.release_expired_reservations()",
            "SELECT real_estate.reserve_property(gen_random_uuid(), gen_random_uuid())",
            "SELECT real_estate.release_reservation(gen_random_uuid())",
            "SELECT * FROM real_estate.check_invariants()",
            "CALL real_estate.run_release_job()",
            "DELETE FROM real_estate.property",
        ]:
            assert sqlstate(c, query) == "42501", query
    assert table_state(conn) == before


# --------------------------------------------------------------------------- privilege matrix


def table_privileges(conn: Conn, role: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name in TABLES + VIEWS:
        privs = set()
        for priv in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"):
            query = "SELECT has_table_privilege(%s, %s, %s)"
            if scalar(conn, query, (role, f"real_estate.{name}", priv)):
                privs.add(priv)
        out[name] = privs
    return out


def column_privileges(conn: Conn, role: str, table: str, priv: str) -> set[str]:
    rows = conn.execute(
        "SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = %s::regclass"
        " AND attnum > 0 AND NOT attisdropped AND has_column_privilege(%s, attrelid, attnum, %s)",
        (f"real_estate.{table}", role, priv),
    ).fetchall()
    return {r[0] for r in rows}


def test_privilege_matrix_of_the_two_roles(conn: Conn, make_login: MakeLogin) -> None:
    reader = make_login("reader", "real_estate_reader").name
    app = make_login("app", "real_estate_app").name
    read_only = {name: {"SELECT"} for name in TABLES + VIEWS}
    assert table_privileges(conn, reader) == read_only
    assert table_privileges(conn, app) == {
        **read_only,
        "workspace": {"SELECT", "INSERT", "UPDATE", "DELETE"},
        "project": {"SELECT", "DELETE"},  # INSERT and UPDATE on some columns only
        "property": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    }
    assert column_privileges(conn, app, "project", "INSERT") == {
        "id",
        "workspace_id",
        "name",
        "total_plots",
    }
    assert column_privileges(conn, app, "project", "UPDATE") == {"name", "total_plots"}
    for role in (reader, app):
        assert scalar(conn, "SELECT has_schema_privilege(%s, 'real_estate', 'USAGE')", (role,))
        assert not scalar(conn, "SELECT has_schema_privilege(%s, 'real_estate', 'CREATE')", (role,))
        for seq in ("release_run_id_seq", "release_event_id_seq"):
            for priv in ("USAGE", "SELECT", "UPDATE"):
                assert not scalar(
                    conn,
                    "SELECT has_sequence_privilege(%s, %s, %s)",
                    (role, f"real_estate.{seq}", priv),
                ), (role, seq, priv)
    assert executable(conn, reader) == READER_FUNCTIONS
    assert executable(conn, app) == PUBLIC_FUNCTIONS | READER_FUNCTIONS


# --------------------------------------------------------------------------- reader


def test_reader_reads_everything_and_writes_nothing(conn: Conn, make_login: MakeLogin) -> None:
    world = make_world(conn)
    conn.execute("SELECT real_estate.release_reservation(%s)", (world.expired[0],))  # logs
    reader = make_login("reader", "real_estate_reader")
    before = table_state(conn)
    with reader.connect() as c:
        count = sql.SQL("SELECT count(*) FROM real_estate.{}")
        counts = {name: scalar(c, count.format(sql.Identifier(name))) for name in TABLES + VIEWS}
        assert counts["property"] == 7
        assert counts["release_event"] == 1
        assert counts["property_availability"] == 7
        assert c.execute("SELECT * FROM real_estate.check_invariants()").fetchall() == []

        writes = [
            "INSERT INTO real_estate.workspace (name) VALUES ('x')",
            "UPDATE real_estate.workspace SET name = 'x'",
            "DELETE FROM real_estate.workspace",
            "INSERT INTO real_estate.project (workspace_id, name)"
            " SELECT id, 'x' FROM real_estate.workspace",
            "UPDATE real_estate.project SET name = 'x'",
            "UPDATE real_estate.project SET available_plots = 0",
            "DELETE FROM real_estate.project",
            "INSERT INTO real_estate.property (workspace_id) SELECT id FROM real_estate.workspace",
            "UPDATE real_estate.property SET status = 'AVAILABLE', reserved_by_id = NULL,"
            " reserved_until = NULL",
            "DELETE FROM real_estate.property",
            "INSERT INTO real_estate.release_run (source) VALUES ('call')",
            "UPDATE real_estate.release_run SET released = 0",
            "DELETE FROM real_estate.release_run",
            "UPDATE real_estate.release_event SET released_at = now()",
            "DELETE FROM real_estate.release_event",
            *(f"TRUNCATE real_estate.{t}" for t in TABLES),
            "SELECT nextval('real_estate.release_run_id_seq')",
            "SELECT setval('real_estate.release_event_id_seq', 1)",
            # the functions that write
            *(
                f"SELECT real_estate.{f}"
                for f in (
                    f"reserve_property('{world.expired[1]}', gen_random_uuid())",
                    f"release_reservation('{world.expired[1]}')",
                    "release_expired_reservations()",
                    f"extend_reservation('{world.live[0]}', gen_random_uuid())",
                    f"cancel_reservation('{world.live[0]}', gen_random_uuid())",
                    f"confirm_sale('{world.live[0]}', gen_random_uuid())",
                )
            ),
            *INTERNALS.values(),
        ]
        denied = {query: sqlstate(c, query) for query in writes}
        assert {q: s for q, s in denied.items() if s != "42501"} == {}
        # Views: no write privilege (PostgreSQL's rewriter refuses these non-updatable
        # views before the privilege check, so the proof is the privilege itself).
        for view in VIEWS:
            for priv in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
                assert not scalar(
                    c, "SELECT has_table_privilege(%s, %s)", (f"real_estate.{view}", priv)
                )
    assert table_state(conn) == before


# --------------------------------------------------------------------------- app


def test_app_manages_its_rows_and_counters_follow(conn: Conn, make_login: MakeLogin) -> None:
    app = make_login("app", "real_estate_app")
    ws, project = uuid.uuid4(), uuid.uuid4()
    with app.connect() as c:
        c.execute("INSERT INTO real_estate.workspace (id, name) VALUES (%s, 'ws')", (ws,))
        c.execute("UPDATE real_estate.workspace SET name = 'renamed' WHERE id = %s", (ws,))
        c.execute(
            "INSERT INTO real_estate.project (id, workspace_id, name, total_plots)"
            " VALUES (%s, %s, 'p', 10)",
            (project, ws),
        )
        c.execute(
            "UPDATE real_estate.project SET name = 'p2', total_plots = 5 WHERE id = %s", (project,)
        )
        ids = make_properties(c, ws, project, 5)
        make_properties(c, ws, project, 2, "RESERVED", expired=False)
        c.execute("UPDATE real_estate.property SET status = 'SOLD' WHERE id = %s", (ids[0],))
        c.execute("DELETE FROM real_estate.property WHERE id = %s", (ids[1],))
        assert (
            scalar(c, "SELECT available_plots FROM real_estate.project WHERE id = %s", (project,))
            == 3
        )
        # a new project's counter is the database's, even through a column list
        assert (
            sqlstate(
                c,
                "INSERT INTO real_estate.project (workspace_id, name, available_plots)"
                " VALUES (%s, 'q', 5)",
                (ws,),
            )
            == "42501"
        )
        other = uuid.uuid4()
        c.execute(
            "INSERT INTO real_estate.project (id, workspace_id, name) VALUES (%s, %s, 'q')",
            (other, ws),
        )
        c.execute("DELETE FROM real_estate.project WHERE id = %s", (other,))
        assert c.execute("SELECT * FROM real_estate.check_invariants()").fetchall() == []
    assert_counters_exact(conn)


def test_app_reserves_and_releases_with_exact_counters_and_logs(
    conn: Conn, make_login: MakeLogin
) -> None:
    world = make_world(conn, available=1)
    app = make_login("app", "real_estate_app")
    live_rows = {p: property_row(conn, p) for p in [*world.live, world.sold]}
    with app.connect() as c:
        buyer = uuid.uuid4()
        until = scalar(
            c,
            "SELECT real_estate.reserve_property(%s, %s, %s)",
            (world.available[0], buyer, timedelta(hours=2)),
        )
        assert isinstance(until, datetime)
        # take over an expired reservation: logged as released
        scalar(c, "SELECT real_estate.reserve_property(%s, %s)", (world.expired[0], buyer))
        assert scalar(c, "SELECT real_estate.release_reservation(%s)", (world.expired[1],)) is True
        # not expired: the package's functions leave it alone
        for live in world.live:
            assert scalar(c, "SELECT real_estate.release_reservation(%s)", (live,)) is False
            assert (
                sqlstate(c, "SELECT real_estate.reserve_property(%s, %s)", (live, uuid.uuid4()))
                == "RE003"
            )
        assert scalar(c, "SELECT real_estate.release_reservation(%s)", (world.sold,)) is False
        assert scalar(c, "SELECT real_estate.release_expired_reservations()") == 1
        assert scalar(c, "SELECT real_estate.release_expired_reservations()") == 0
        assert c.execute("SELECT * FROM real_estate.check_invariants()").fetchall() == []

    assert {p: property_row(conn, p) for p in live_rows} == live_rows
    assert release_events(conn) == sorted(world.expired)
    runs = conn.execute(
        "SELECT source, released, failed, finished_at IS NOT NULL FROM real_estate.release_run"
        " ORDER BY id"
    ).fetchall()
    assert runs == [("call", 1, 0, True)] * 3
    counters = assert_counters_exact(conn)
    assert counters[world.project] == 2  # expired[1], expired[2] released; available reserved
    assert conn.execute("SELECT * FROM real_estate.check_invariants()").fetchall() == []


def test_app_cannot_write_logs_counter_or_call_internals(conn: Conn, make_login: MakeLogin) -> None:
    world = make_world(conn)
    conn.execute("SELECT real_estate.release_reservation(%s)", (world.expired[0],))
    app = make_login("app", "real_estate_app")
    before = table_state(conn)
    with app.connect() as c:
        attempts = [
            "INSERT INTO real_estate.release_run (source) VALUES ('call')",
            "UPDATE real_estate.release_run SET released = released + 1",
            "DELETE FROM real_estate.release_run",
            "TRUNCATE real_estate.release_run",
            "INSERT INTO real_estate.release_event (run_id, property_id, workspace_id,"
            " reserved_by_id, reserved_until) SELECT 1, id, workspace_id, gen_random_uuid(),"
            " now() FROM real_estate.property",
            "UPDATE real_estate.release_event SET reserved_until = released_at",
            "DELETE FROM real_estate.release_event",
            "TRUNCATE real_estate.release_event",
            "INSERT INTO real_estate.release_notification DEFAULT VALUES",
            "UPDATE real_estate.project SET available_plots = 99",
            "UPDATE real_estate.project SET available_plots = available_plots",
            "INSERT INTO real_estate.project (workspace_id, name, available_plots)"
            " SELECT id, 'x', 7 FROM real_estate.workspace",
            *(f"TRUNCATE real_estate.{t}" for t in ("workspace", "project", "property")),
            "SELECT nextval('real_estate.release_run_id_seq')",
            "CREATE TABLE real_estate.mine (x int)",
            "CREATE TRIGGER t AFTER INSERT ON real_estate.property FOR EACH ROW"
            " EXECUTE FUNCTION real_estate.project_guard_available_plots()",
            *INTERNALS.values(),
        ]
        denied = {query: sqlstate(c, query) for query in attempts}
        assert {q: s for q, s in denied.items() if s != "42501"} == {}
    assert table_state(conn) == before


def test_counter_guard_holds_even_with_the_column_granted(
    conn: Conn, make_login: MakeLogin
) -> None:
    world = make_world(conn, available=2)
    app = make_login("app", "real_estate_app")
    conn.execute(
        sql.SQL("GRANT UPDATE (available_plots) ON real_estate.project TO {}").format(
            sql.Identifier(app.name)
        )
    )
    before = table_state(conn)
    update = "UPDATE real_estate.project SET available_plots = available_plots + 1"
    with app.connect() as c:
        assert sqlstate(c, update) == "RE011"
        with pytest.raises(CounterIsReadOnly), translated():
            c.execute(update)
    # the superuser too
    assert sqlstate(conn, update) == "RE011"
    assert sqlstate(conn, "UPDATE real_estate.project SET available_plots = 0") == "RE011"
    assert table_state(conn) == before
    # a new project starts at 0 whatever the INSERT says
    other = make_project(conn, world.workspace, "other")
    conn.execute("DELETE FROM real_estate.project WHERE id = %s", (other,))
    row = conn.execute(
        "INSERT INTO real_estate.project (workspace_id, name, available_plots)"
        " VALUES (%s, 'x', 99) RETURNING available_plots",
        (world.workspace,),
    ).fetchone()
    assert row == (0,)
    assert_counters_exact(conn)


COUNTER_BYPASSES = [
    pytest.param(
        [
            "CREATE TEMP TABLE poke (x int)",
            "CREATE FUNCTION pg_temp.poke() RETURNS trigger LANGUAGE plpgsql AS"
            " $$BEGIN UPDATE real_estate.project SET available_plots = 42; RETURN NULL; END$$",
            "CREATE TRIGGER poke AFTER INSERT ON pg_temp.poke FOR EACH STATEMENT"
            " EXECUTE FUNCTION pg_temp.poke()",
            "INSERT INTO pg_temp.poke VALUES (1)",
        ],
        id="from a trigger on its own temp table",
    ),
    pytest.param(
        ["DO $$BEGIN UPDATE real_estate.project SET available_plots = 42; END$$"],
        id="from a DO block",
    ),
    pytest.param(
        [
            "CREATE FUNCTION pg_temp.poke() RETURNS void LANGUAGE sql AS"
            " $$UPDATE real_estate.project SET available_plots = 42$$",
            "SELECT pg_temp.poke()",
        ],
        id="from a function",
    ),
    pytest.param(
        [
            "DO $$BEGIN UPDATE real_estate.project SET available_plots = 42 /*\n"
            "PL/pgSQL function real_estate.property_sync_available_plots() line 1*/; END$$"
        ],
        id="from a statement that quotes the counter trigger",
    ),
]


@pytest.mark.parametrize("statements", COUNTER_BYPASSES)
def test_counter_guard_cannot_be_bypassed(
    conn: Conn, make_login: MakeLogin, statements: list[str]
) -> None:
    """Even a role granted UPDATE(available_plots) cannot write the counter indirectly."""
    make_world(conn, available=2)
    app = make_login("app", "real_estate_app")
    conn.execute(
        sql.SQL("GRANT UPDATE (available_plots) ON real_estate.project TO {}").format(
            sql.Identifier(app.name)
        )
    )
    with app.connect() as c:
        for statement in statements[:-1]:
            c.execute(statement)
        state = sqlstate(c, statements[-1])
    try:
        assert state == "RE011"
    finally:
        drift = conn.execute("SELECT * FROM real_estate.check_invariants()").fetchall()
        assert drift == [], drift


def test_rolling_back_another_database_keeps_this_ones_roles(
    conn: Conn, fresh_db: str, make_login: MakeLogin
) -> None:
    make_world(conn)
    app = make_login("app", "real_estate_app")
    with app.connect() as c:
        assert scalar(c, "SELECT count(*) FROM real_estate.property") == 7
    pyrelease.migrate(fresh_db)
    try:
        rolled_back: list[str] = []
        while "0005.roles" not in rolled_back:  # the later migrations first
            rolled_back += pyrelease.rollback(fresh_db, steps=1)
        with app.connect() as c:
            state = sqlstate(c, "SELECT count(*) FROM real_estate.property")
        assert state is None, f"the other database's rollback took SELECT away ({state})"
    finally:
        conn.execute("GRANT real_estate_reader TO real_estate_app")  # for the tests after
        pyrelease.rollback(fresh_db, steps="all")


# --------------------------------------------------------------------------- pg_cron


@pytest.fixture
def release_job(conn: Conn) -> Iterator[cron.Job]:
    """This database's release job, registered as the migrating (super)user, on a schedule
    that never fires during the test."""
    if cron.cron_setup(conn) is None:
        pytest.skip("pg_cron is not available on the test server")
    job = cron.schedule(conn, cron="0 0 1 1 *")
    yield job
    cron.unschedule(conn)


def job_row(server: Any, job: cron.Job) -> tuple[Any, ...]:
    with psycopg.connect(server.dsn_for(job.cron_database), autocommit=True) as c:
        row = c.execute(
            "SELECT jobid, schedule, command, nodename, nodeport, database, username, active,"
            " jobname FROM cron.job WHERE jobid = %s",
            (job.jobid,),
        ).fetchone()
    assert row is not None
    return tuple(row)


def cron_attempts(job: cron.Job) -> list[str]:
    jobid = job.jobid
    return [
        "SELECT cron.schedule('sec-evil', '* * * * *', 'DROP TABLE x')",
        f"SELECT cron.schedule_in_database('sec-evil', '* * * * *', 'SELECT 1', '{job.database}')",
        f"SELECT cron.alter_job({jobid}, '* * * * *', 'SELECT 1')",
        f"SELECT cron.alter_job({jobid}, active := false)",
        f"SELECT cron.unschedule({jobid})",
        f"UPDATE cron.job SET command = 'SELECT 1' WHERE jobid = {jobid}",
        "UPDATE cron.job SET active = false",
        "DELETE FROM cron.job",
        "INSERT INTO cron.job (schedule, command, nodename, nodeport, database, username)"
        " VALUES ('* * * * *', 'SELECT 1', 'localhost', 5432, 'postgres', 'postgres')",
        "SELECT nextval('cron.jobid_seq')",
    ]


def test_app_login_cannot_touch_pg_cron(
    server: Any, conn: Conn, make_login: MakeLogin, release_job: cron.Job
) -> None:
    """pg_cron 1.4.2 as installed: schema cron has no USAGE for PUBLIC, so an application
    login can neither schedule, alter, unschedule nor read any job."""
    app = make_login("app", "real_estate_app")
    before = job_row(server, release_job)
    with app.connect(cron_db=True) as c:
        attempts = [
            *cron_attempts(release_job),
            f"SELECT cron.unschedule('{release_job.name}')",
            "SELECT * FROM cron.job",
            "DELETE FROM cron.job_run_details",
        ]
        denied = {query: sqlstate(c, query) for query in attempts}
    assert {q: s for q, s in denied.items() if s != "42501"} == {}
    assert job_row(server, release_job) == before


def test_app_login_with_cron_usage_schedules_only_as_itself(
    server: Any, conn: Conn, make_login: MakeLogin, release_job: cron.Job
) -> None:
    """What pg_cron 1.4.2 lets a non-superuser do once a DBA grants it USAGE on schema cron
    (what pg_cron's docs suggest for users who schedule their own jobs): cron.schedule and
    cron.unschedule of jobs that run as itself, in pg_cron's database only. It still cannot
    see, alter (alter_job is revoked from PUBLIC), unschedule or rewrite the release job,
    which belongs to the migrating user, nor target another database (schedule_in_database
    is revoked from PUBLIC)."""
    app = make_login("app", "real_estate_app")
    with psycopg.connect(server.dsn_for(release_job.cron_database), autocommit=True) as admin:
        admin.execute(sql.SQL("GRANT USAGE ON SCHEMA cron TO {}").format(sql.Identifier(app.name)))
    before = job_row(server, release_job)
    with app.connect(cron_db=True) as c:
        own = scalar(c, "SELECT cron.schedule('sec-own', '0 0 1 1 *', 'SELECT 1')")
        # the same name as the release job: a separate job of its own, not a takeover
        same = scalar(c, "SELECT cron.schedule(%s, '0 0 1 1 *', 'SELECT 2')", (release_job.name,))
        assert same not in (own, release_job.jobid)
        visible = c.execute("SELECT jobid, username FROM cron.job ORDER BY jobid").fetchall()
        assert visible == [(own, app.name), (same, app.name)]
        denied = {query: sqlstate(c, query) for query in cron_attempts(release_job)[1:]}
        assert {q: s for q, s in denied.items() if s != "42501"} == {}
        # by name, pg_cron only looks among its own jobs: this removes its own namesake
        assert scalar(c, "SELECT cron.unschedule(%s)", (release_job.name,)) is True
        assert sqlstate(c, "SELECT cron.unschedule(%s)", (release_job.name,)) is not None
    assert job_row(server, release_job) == before
    assert cron.job(conn) == release_job


# --------------------------------------------------------------------------- search_path


def _strip(body: str) -> str:
    body = re.sub(r"--[^\n]*", " ", body)
    body = re.sub(r"/\*.*?\*/", " ", body, flags=re.S)
    return re.sub(r"'(?:[^']|'')*'", "''", body)


GRAMMAR_CALLS = {
    "coalesce",
    "operator",
    "nullif",
    "greatest",
    "least",
    "exists",
    "in",
    "any",
    "all",
    "values",
    "array",
    "row",
}
GRAMMAR_TYPES = {"bigint", "integer", "int", "smallint", "boolean", "interval", "numeric"}


def unqualified(body: str) -> list[str]:
    """Names in a PL/pgSQL body that the caller's search_path could resolve: operators not
    spelled OPERATOR(pg_catalog.x), casts and declared types outside pg_catalog, and
    function calls without a schema."""
    text = _strip(body)
    problems = []
    for m in re.finditer(r"::\s*([A-Za-z_][\w.]*)", text):
        if not m.group(1).startswith("pg_catalog."):
            problems.append(f"cast to {m.group(1)}")
    for m in re.finditer(r"(?<![\w.])([A-Za-z_]\w*)\s*\(", text):
        if m.group(1).lower() not in GRAMMAR_CALLS:
            problems.append(f"call {m.group(1)}(")
    declare = re.search(r"\bDECLARE\b(.*?)\bBEGIN\b", text, flags=re.S | re.I)
    for line in declare.group(1).split(";") if declare else []:
        words = line.split()
        if len(words) >= 2:
            type_name = words[1].rstrip("[]")
            if not type_name.startswith("pg_catalog.") and type_name.lower() not in GRAMMAR_TYPES:
                problems.append(f"declared type {words[1]}")
    rest = re.sub(r"OPERATOR\(\s*pg_catalog\.[^)\s]+\s*\)", " ", text, flags=re.I)
    rest = re.sub(r":=|=>|::|\[\]|\bSELECT\s+\*", " ", rest, flags=re.I)
    rest = re.sub(r"\bERRCODE\s*=", " ", rest, flags=re.I)
    problems += [f"operator {m.group()}" for m in re.finditer(r"[-+*/<>=~!@#%^&|?]+", rest)]
    return problems


def test_the_search_path_lint_finds_what_it_looks_for() -> None:
    body = """DECLARE v text; w pg_catalog.text; n bigint; BEGIN
        IF a < 1 OR a OPERATOR(pg_catalog.<) 1 THEN x := now() || 'a<b'; END IF;
        y := b::text; z := b::pg_catalog.text; PERFORM pg_catalog.now(), coalesce(a, 1); END"""
    assert sorted(unqualified(body)) == sorted(
        ["cast to text", "call now(", "declared type text", "operator <", "operator ||"]
    )


def test_every_function_pins_its_search_path(conn: Conn) -> None:
    rows = conn.execute(
        "SELECT p.proname, p.prokind::text, p.proconfig, p.prosecdef, p.prosrc"
        " FROM pg_catalog.pg_proc AS p WHERE p.pronamespace = 'real_estate'::regnamespace"
        " ORDER BY 1"
    ).fetchall()
    assert {r[0] for r in rows} >= {p.stem for p in PLPGSQL.glob("*.sql")} - set(VIEWS)
    unpinned = [r[0] for r in rows if r[1] != "p" and PINNED not in (r[2] or [])]
    assert unpinned == []
    procedures = [r for r in rows if r[1] == "p"]
    assert [r[0] for r in procedures] == ["run_release_job"]
    for _, _, config, secdef, body in procedures:
        assert config is None and secdef is False
        assert unqualified(body) == []
    # SECURITY DEFINER bodies never build SQL from their arguments.
    for name, _, _, secdef, src in rows:
        if secdef:
            for m in re.finditer(r"\bEXECUTE\b\s*(\S)", _strip(src), flags=re.I):
                assert m.group(1) == "$", f"{name}: EXECUTE of a non-constant string"


def test_procedure_body_uses_only_schema_qualified_names(conn: Conn) -> None:
    body = scalar(
        conn,
        "SELECT prosrc FROM pg_catalog.pg_proc WHERE oid = 'real_estate.run_release_job'::regproc",
    )
    assert unqualified(body) == []


def test_procedure_record_variable_is_not_resolved_through_search_path(conn: Conn) -> None:
    world = make_world(conn)
    conn.execute("CREATE SCHEMA evil")
    conn.execute("CREATE TYPE evil.record AS (x integer)")
    with psycopg.connect(conn.info.dsn, password=conn.info.password, autocommit=True) as c:
        c.execute("SET search_path = evil, pg_catalog")
        state = sqlstate(c, "CALL real_estate.run_release_job()")
    try:
        assert state is None
    finally:
        assert release_events(conn) == sorted(world.expired)


# --------------------------------------------------------------------------- hostile search_path

EVIL_SETUP = [
    "CREATE SCHEMA evil",
    "CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql STABLE"
    " AS $$SELECT '2999-01-01'::pg_catalog.timestamptz$$",
    "CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql STABLE"
    " AS $$SELECT '2999-01-01'::pg_catalog.timestamptz$$",
    "CREATE FUNCTION evil.cardinality(anyarray) RETURNS integer LANGUAGE sql AS $$SELECT 0$$",
    *(
        f"CREATE FUNCTION evil.always_{v}(pg_catalog.{t}, pg_catalog.{t}) RETURNS boolean"
        f" LANGUAGE sql IMMUTABLE AS $$SELECT {v}$$"
        for t in ("uuid", "text", "timestamptz", "int4")
        for v in ("true", "false")
    ),
    *(
        f"CREATE OPERATOR evil.{op} (LEFTARG = pg_catalog.{t}, RIGHTARG = pg_catalog.{t},"
        f" FUNCTION = evil.always_{v})"
        for op, t, v in [
            ("=", "uuid", "true"),
            ("=", "text", "true"),
            ("<>", "uuid", "false"),
            ("<>", "text", "true"),
            ("<=", "timestamptz", "true"),
            ("<", "timestamptz", "true"),
            (">", "timestamptz", "false"),
            ("<", "int4", "true"),
            ("<=", "int4", "true"),
        ]
    ),
    "CREATE FUNCTION evil.keep(pg_catalog.uuid[], pg_catalog.uuid) RETURNS pg_catalog.uuid[]"
    " LANGUAGE sql AS $$SELECT $1$$",
    "CREATE AGGREGATE evil.array_agg(pg_catalog.uuid)"
    " (SFUNC = evil.keep, STYPE = pg_catalog.uuid[], INITCOND = '{}')",
    # types named like the built-in ones (a domain over text named uuid; a text that
    # rejects everything)
    "CREATE DOMAIN evil.uuid AS pg_catalog.text",
    "CREATE DOMAIN evil.text AS pg_catalog.text CHECK (false)",
    *(f"CREATE TABLE evil.{t} (LIKE real_estate.{t})" for t in TABLES),
    "INSERT INTO evil.workspace (id, name, activation_status)"
    " SELECT id, name, activation_status FROM real_estate.workspace",
    "INSERT INTO evil.property (id, workspace_id, project_id, name, status, reserved_by_id,"
    " reserved_until) SELECT id, workspace_id, project_id, 'evil', 'RESERVED',"
    " gen_random_uuid(), now() - interval '1 day' FROM real_estate.property",
    "INSERT INTO evil.property (id, workspace_id, status, reserved_by_id, reserved_until)"
    " SELECT gen_random_uuid(), id, 'RESERVED', gen_random_uuid(), now() - interval '1 day'"
    " FROM real_estate.workspace CROSS JOIN generate_series(1, 5)",
]

# Created by the hostile session itself (temp objects belong to a session), before its
# search_path turns hostile; every type is spelled pg_catalog.x.
TEMP_SETUP = [
    "CREATE TEMP TABLE property (id pg_catalog.uuid, workspace_id pg_catalog.uuid,"
    " project_id pg_catalog.uuid, name pg_catalog.text, status pg_catalog.text,"
    " reserved_by_id pg_catalog.uuid, reserved_until pg_catalog.timestamptz)",
    "INSERT INTO pg_temp.property SELECT id, workspace_id, project_id, 'temp', 'RESERVED',"
    " gen_random_uuid(), now() - interval '1 day' FROM real_estate.property",
    "CREATE TEMP TABLE workspace (id pg_catalog.uuid, name pg_catalog.text,"
    " activation_status pg_catalog.text)",
    "INSERT INTO pg_temp.workspace SELECT id, name, 'ACTIVE' FROM real_estate.workspace",
    "CREATE TEMP TABLE release_event (id pg_catalog.int8, run_id pg_catalog.int8,"
    " property_id pg_catalog.uuid)",
    "CREATE FUNCTION pg_temp.now() RETURNS pg_catalog.timestamptz LANGUAGE sql"
    " AS $$SELECT '2999-01-01'::pg_catalog.timestamptz$$",
    "CREATE FUNCTION pg_temp.clock_timestamp() RETURNS pg_catalog.timestamptz LANGUAGE sql"
    " AS $$SELECT '2999-01-01'::pg_catalog.timestamptz$$",
    "CREATE OPERATOR pg_temp.= (LEFTARG = pg_catalog.uuid, RIGHTARG = pg_catalog.uuid,"
    " FUNCTION = evil.always_true)",
    "CREATE OPERATOR pg_temp.<= (LEFTARG = pg_catalog.timestamptz,"
    " RIGHTARG = pg_catalog.timestamptz, FUNCTION = evil.always_true)",
]

SEARCH_PATHS = ["evil, pg_temp, public, pg_catalog", "pg_temp, evil, pg_catalog"]
CALLS = [
    "release_expired_reservations",
    "run_release_job",
    "reserve_property",
    "release_reservation",
]


def temp_rows(c: Conn) -> list[tuple[Any, ...]]:
    rows = c.execute("SELECT * FROM pg_temp.property").fetchall()
    rows += c.execute("SELECT * FROM pg_temp.workspace").fetchall()
    return sorted(rows, key=repr)


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("path", SEARCH_PATHS)
@pytest.mark.parametrize("who", ["superuser", "app"])
def test_hostile_search_path_changes_nothing(
    conn: Conn, db: str, make_login: MakeLogin, who: str, path: str, call: str
) -> None:
    world = make_world(conn)
    for statement in EVIL_SETUP:
        conn.execute(statement)
    if who == "app":
        login = make_login("app", "real_estate_app")
        ident = sql.Identifier(login.name)
        for grant in (
            "GRANT USAGE ON SCHEMA evil TO {}",
            "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA evil TO {}",
            "GRANT ALL ON ALL TABLES IN SCHEMA evil TO {}",
        ):
            conn.execute(sql.SQL(grant).format(ident))
        session = login.connect()
    else:
        session = psycopg.connect(db, autocommit=True)
    evil_before = table_state(conn, "evil")
    untouched = {p: property_row(conn, p) for p in [*world.live, world.sold]}
    now = scalar(conn, "SELECT now()")

    with session:
        for statement in TEMP_SETUP:
            session.execute(statement)
        temp_before = temp_rows(session)
        session.execute(sql.SQL("SET search_path = {}").format(sql.SQL(path)))
        # the session is hostile indeed
        assert scalar(session, "SELECT now()").year == 2999
        assert scalar(session, "SELECT %s = %s", (uuid.uuid4(), uuid.uuid4())) is True

        if call == "release_expired_reservations":
            assert scalar(session, "SELECT real_estate.release_expired_reservations()") == 3
            expected_runs = [("call", 3)]
        elif call == "run_release_job":
            state = sqlstate(session, "CALL real_estate.run_release_job()")
            if who == "app":
                assert state == "42501"
                expected_runs = []
            else:
                assert state is None
                expected_runs = [("pg_cron", 3)]
        elif call == "release_reservation":
            released = [
                scalar(session, "SELECT real_estate.release_reservation(%s)", (p,))
                for p in world.all
            ]
            assert released == [True] * 3 + [False] * 4
            expected_runs = [("call", 1)] * 3
        else:
            buyer = uuid.uuid4()
            for p in world.expired:
                until = scalar(
                    session,
                    "SELECT real_estate.reserve_property(%s, %s, %s)",
                    (p, buyer, timedelta(hours=1)),
                )
                assert now < until < now + timedelta(hours=2)
            for p in world.live:
                assert (
                    sqlstate(session, "SELECT real_estate.reserve_property(%s, %s)", (p, buyer))
                    == "RE003"
                )
            assert (
                sqlstate(
                    session, "SELECT real_estate.reserve_property(%s, %s)", (world.sold, buyer)
                )
                == "RE002"
            )
            expected_runs = [("call", 1)] * 3
        assert temp_rows(session) == temp_before

    assert table_state(conn, "evil") == evil_before
    assert {p: property_row(conn, p) for p in untouched} == untouched
    runs = conn.execute(
        "SELECT source, released FROM real_estate.release_run"
        " WHERE finished_at IS NOT NULL AND failed = 0 ORDER BY id"
    ).fetchall()
    assert runs == expected_runs
    assert scalar(conn, "SELECT count(*) FROM real_estate.release_run") == len(expected_runs)
    if expected_runs:
        assert release_events(conn) == sorted(world.expired)
        statuses = conn.execute(
            "SELECT DISTINCT status FROM real_estate.property WHERE id = ANY (%s)",
            (world.expired,),
        ).fetchall()
        assert statuses == [("RESERVED" if call == "reserve_property" else "AVAILABLE",)]
    else:
        assert release_events(conn) == []
    assert conn.execute("SELECT * FROM real_estate.check_invariants()").fetchall() == []
    assert_counters_exact(conn)


# --------------------------------------------------------------------------- the API's own SQL

# Types named like the ones the wrappers' SQL names, whose every use runs a logging check.
TYPE_TRAPS = [
    "CREATE SCHEMA evil",
    "CREATE TABLE evil.ran (what text)",
    "GRANT USAGE ON SCHEMA evil TO PUBLIC",
    "GRANT INSERT, SELECT ON evil.ran TO PUBLIC",
    "CREATE FUNCTION evil.trap(text) RETURNS boolean LANGUAGE plpgsql"
    " AS $$BEGIN INSERT INTO evil.ran VALUES ($1); RETURN true; END$$",
    *(
        f"CREATE DOMAIN evil.{t} AS pg_catalog.{t} CHECK (evil.trap('{t}'))"
        for t in ("uuid", "int4", "int8", "text", "interval")
    ),
]


def test_the_api_qualifies_its_types_on_any_search_path(conn: Conn, make_login: MakeLogin) -> None:
    """An application's connection is used as it is (never SET): the wrappers' SQL names
    pg_catalog's types, so a look-alike type earlier on the application's search_path runs
    nothing (it would, through its domain check, at every cast)."""
    world = make_world(conn, available=2)
    for statement in TYPE_TRAPS:
        conn.execute(statement)
    login = make_login("app", "real_estate_app")
    holder = uuid.uuid4()
    with login.connect() as app:
        app.execute("SET search_path = evil, public, pg_catalog")
        assert scalar(app, "SELECT '1'::int4") == 1  # the session is hostile indeed
        assert scalar(conn, "SELECT count(*) FROM evil.ran") == 1
        conn.execute("TRUNCATE evil.ran")
        free = world.available[0]
        pyrelease.reserve(app, free, holder, ttl=timedelta(hours=1))
        pyrelease.extend(app, free, holder, ttl=timedelta(hours=2))
        pyrelease.sell(app, free, holder)
        other = world.available[1]
        pyrelease.reserve(app, other, holder)
        assert pyrelease.cancel(app, other, holder) is True
        assert pyrelease.release_reservation(app, world.expired[0]) is True
        assert pyrelease.release_expired(app, batch_size=10) == 2
        assert len(pyrelease.release_events(app, 0, 100)) == 4
    assert conn.execute("SELECT what FROM evil.ran").fetchall() == []
