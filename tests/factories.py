"""Helpers shared by the tests: connections, databases, pg_cron jobs, the repository's
migrations, and data rows created with plain SQL, as a host would.

The pytest fixtures (server, template_db, db, conn, connect, fresh_db) are in conftest.py.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.abc import Query
from psycopg.conninfo import make_conninfo

Conn = psycopg.Connection[Any]
REPO = Path(__file__).resolve().parent.parent
MIGRATIONS = REPO / "migrations"
Status = Literal["AVAILABLE", "RESERVED", "SOLD"]
ActivationStatus = Literal["ACTIVE", "INACTIVE", "SUSPENDED"]


# --------------------------------------------------------------------------- connections


def connect_to(dsn: str, autocommit: bool = True, **kwargs: Any) -> Conn:
    """A psycopg connection to `dsn` (autocommit unless told otherwise); close it yourself
    (or use it in `with`)."""
    return psycopg.connect(dsn, autocommit=autocommit, **kwargs)


def current_db(target: str | Conn) -> str:
    """The database name of a DSN or of a connection."""
    if isinstance(target, str):
        with connect_to(target) as c:
            return current_db(c)
    return str(scalar(target, "SELECT current_database()"))


def closed_port() -> int:
    """A local TCP port that nothing listens on (free for a new server too)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def migration_ids() -> list[str]:
    """The ids of the repository's migrations, in the order they apply (names sort that way)."""
    ids = {
        p.name.removesuffix(".sql").removesuffix(".py")
        for p in MIGRATIONS.iterdir()
        if p.suffix in {".sql", ".py"}
        and p.name[:4].isdigit()  # numbered: not the install marker
        and not p.name.endswith(".rollback.sql")
    }
    return sorted(ids)


@contextmanager
def extra_database(
    server: Any, name: str | None = None, owner: str | None = None, tag: str = "extra"
) -> Iterator[str]:
    """A new empty database on `server` (its name yielded; default pyrelease_t_<tag>_<hex>),
    dropped with its pg_cron jobs afterwards."""
    name = name or f"pyrelease_t_{tag}_{uuid.uuid4().hex[:8]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if owner is not None:
        create = sql.SQL("{} OWNER {}").format(create, sql.Identifier(owner))
    with connect_to(server.admin_dsn) as admin:
        admin.execute(create)
    try:
        yield name
    finally:
        drop_jobs(server, name)
        with connect_to(server.admin_dsn) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def run_main(capsys: Any, *args: str) -> tuple[int, str, str]:
    """pyrelease's main() in-process, under pytest's capsys: (exit code, stdout, stderr);
    argparse's SystemExit is an exit."""
    from pyrelease.cli import main

    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- rows


def make_workspace(conn: Conn, status: ActivationStatus = "ACTIVE", name: str = "ws") -> uuid.UUID:
    row = conn.execute(
        "INSERT INTO real_estate.workspace (name, activation_status) VALUES (%s, %s) RETURNING id",
        (name, status),
    ).fetchone()
    assert row is not None
    return row[0]


def make_project(conn: Conn, workspace_id: uuid.UUID, name: str = "project") -> uuid.UUID:
    row = conn.execute(
        "INSERT INTO real_estate.project (workspace_id, name) VALUES (%s, %s) RETURNING id",
        (workspace_id, name),
    ).fetchone()
    assert row is not None
    return row[0]


def make_properties(
    conn: Conn,
    workspace_id: uuid.UUID,
    project_id: uuid.UUID | None,
    n: int,
    status: Status = "AVAILABLE",
    expired: bool = True,
    reserved_by_id: uuid.UUID | None = None,
    reserved_until: datetime | None = None,
) -> list[uuid.UUID]:
    """Insert n properties in one statement; return their ids in insertion order.

    RESERVED rows get a holder (reserved_by_id, else a random one per row) and an expiry:
    reserved_until if given, else distinct values in the past (expired=True: the first row
    is the oldest) or in the future (expired=False).
    """
    ids = [uuid.uuid4() for _ in range(n)]
    conn.execute(
        """
        INSERT INTO real_estate.property
            (id, workspace_id, project_id, name, status, reserved_by_id, reserved_until)
        SELECT (%(ids)s::uuid[])[g], %(ws)s, %(project)s, 'property ' || g, %(status)s,
               CASE WHEN %(status)s = 'RESERVED'
                    THEN coalesce(%(holder)s::uuid, gen_random_uuid()) END,
               CASE WHEN %(status)s = 'RESERVED'
                    THEN coalesce(%(until)s::timestamptz,
                                  CASE WHEN %(expired)s
                                       THEN now() - interval '1 hour' - (%(n)s - g) * interval '1 s'
                                       ELSE now() + interval '1 hour' + g * interval '1 s'
                                  END) END
          FROM generate_series(1, %(n)s) AS g
        """,
        {
            "ids": ids,
            "ws": workspace_id,
            "project": project_id,
            "status": status,
            "holder": reserved_by_id,
            "until": reserved_until,
            "expired": expired,
            "n": n,
        },
    )
    return ids


def property_row(conn: Conn, property_id: uuid.UUID) -> tuple[Any, ...]:
    """The whole stored row, every column, for byte-for-byte comparisons."""
    row = conn.execute(
        "SELECT p.*, p::text FROM real_estate.property AS p WHERE p.id = %s", (property_id,)
    ).fetchone()
    assert row is not None, f"no property {property_id}"
    return tuple(row)


def available_plots(conn: Conn, project_id: uuid.UUID) -> int:
    row = conn.execute(
        "SELECT available_plots FROM real_estate.project WHERE id = %s", (project_id,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def scalar(conn: Conn, query: Query, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def release(conn: Conn, batch_size: int = 1000) -> int:
    """SELECT real_estate.release_expired_reservations(batch_size)."""
    return int(scalar(conn, "SELECT real_estate.release_expired_reservations(%s)", (batch_size,)))


def release_one(conn: Conn, property_id: uuid.UUID) -> bool:
    """SELECT real_estate.release_reservation(property_id)."""
    return bool(scalar(conn, "SELECT real_estate.release_reservation(%s)", (property_id,)))


def status_of(conn: Conn, property_id: uuid.UUID) -> str:
    return str(
        scalar(conn, "SELECT status FROM real_estate.property WHERE id = %s", (property_id,))
    )


def count(conn: Conn, table: str) -> int:
    """Rows of real_estate.<table>."""
    return int(
        scalar(conn, sql.SQL("SELECT count(*) FROM real_estate.{}").format(sql.Identifier(table)))
    )


def runs(conn: Conn) -> list[tuple[Any, ...]]:
    """The run log, oldest first."""
    return conn.execute(
        "SELECT id, source, started_at, finished_at, released, failed, error"
        " FROM real_estate.release_run ORDER BY id"
    ).fetchall()


def reservation(conn: Conn, property_id: uuid.UUID) -> tuple[Any, ...]:
    """(status, reserved_by_id, reserved_until) of a property."""
    row = conn.execute(
        "SELECT status, reserved_by_id, reserved_until FROM real_estate.property WHERE id = %s",
        (property_id,),
    ).fetchone()
    assert row is not None, f"no property {property_id}"
    return tuple(row)


def held(conn: Conn, n: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """n live reservations of one holder, each in a workspace and project of its own (an open
    transaction's counter lock on one project holds back no writer of another; on Citus they
    spread over the shards)."""
    holder = uuid.uuid4()
    ids: list[uuid.UUID] = []
    for _ in range(n):
        ws = make_workspace(conn)
        ids += make_properties(conn, ws, make_project(conn, ws), 1, "RESERVED", False, holder)
    return holder, ids


def event_ids(conn: Conn) -> list[int]:
    """The ids of real_estate.release_event, ascending."""
    return [r[0] for r in conn.execute("SELECT id FROM real_estate.release_event ORDER BY id")]


def violations(conn: Conn) -> list[tuple[Any, ...]]:
    """SELECT * FROM real_estate.check_invariants(): empty when every promise holds."""
    return conn.execute("SELECT * FROM real_estate.check_invariants()").fetchall()


class Collector(threading.Thread):
    """pyrelease.listen() in a thread, collecting event ids until it stops (timeout without
    an event); its connection carries application_name (to find and kill it)."""

    def __init__(
        self, dsn: str, after: int = 0, timeout: float = 4.0, name: str = "pyrelease-listen-test"
    ) -> None:
        super().__init__(daemon=True)
        self.conn = psycopg.connect(dsn, autocommit=True, application_name=name)
        self.after, self.timeout = after, timeout
        self.ids: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        import pyrelease

        try:
            for event in pyrelease.listen(self.conn, after_id=self.after, timeout=self.timeout):
                self.ids.append(event.id)
        except BaseException as exc:
            self.error = exc
        finally:
            self.conn.close()


def assert_counters_exact(conn: Conn) -> dict[uuid.UUID, int]:
    """Every project's available_plots equals its count of AVAILABLE properties."""
    rows = conn.execute(
        """
        SELECT pr.id, pr.available_plots,
               count(p.id) FILTER (WHERE p.status = 'AVAILABLE')::integer
          FROM real_estate.project AS pr
          LEFT JOIN real_estate.property AS p ON p.project_id = pr.id
         GROUP BY pr.id, pr.available_plots
        """
    ).fetchall()
    wrong = {r[0]: (r[1], r[2]) for r in rows if r[1] != r[2]}
    assert not wrong, f"available_plots (stored, actual) differ: {wrong}"
    return {r[0]: r[1] for r in rows}


# --------------------------------------------------------------------------- pg_cron jobs

JOB = "release-expired-reservations"


def job_names(dbname: str) -> list[str]:
    """The names of the release job and its purge job registered for `dbname` from another
    database (the default set-up: pg_cron in `postgres`)."""
    return [f"{JOB}:{dbname}", f"{JOB}-purge:{dbname}"]


def cron_jobs(server: Any, dbname: str) -> list[tuple[Any, ...]]:
    """(jobid, jobname, schedule, command, database, active) of every job of `dbname`, in the
    server's cron database (names compared as pg_cron stores them: type name)."""
    with psycopg.connect(server.dsn_for(server.cron_database), autocommit=True) as c:
        return c.execute(
            "SELECT jobid, jobname::text, schedule, command, database, active FROM cron.job"
            " WHERE (database = %s AND database <> %s) OR jobname = ANY (%s::name[])"
            " ORDER BY jobid",
            (dbname, server.cron_database, job_names(dbname)),
        ).fetchall()


def drop_jobs(server: Any, dbname: str) -> None:
    """Unschedule every job of `dbname` (never leave a job pointing at a dropped database);
    nothing to do on a server without pg_cron."""
    with (
        contextlib.suppress(psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName),
        psycopg.connect(server.dsn_for(server.cron_database), autocommit=True) as c,
    ):
        c.execute(
            "SELECT cron.unschedule(jobid) FROM cron.job"
            " WHERE (database = %s AND database <> %s) OR jobname = ANY (%s::name[])",
            (dbname, server.cron_database, job_names(dbname)),
        )


@contextmanager
def monitor_login(admin_dsn: str) -> Iterator[str]:
    """A new LOGIN role that is a member of real_estate_monitor and holds nothing else (the
    database's CONNECT comes from PUBLIC); yields the DSN of `admin_dsn`'s database as it, and
    drops the role afterwards."""
    name = f"pyrelease_monitor_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    with connect_to(admin_dsn) as c:
        c.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE real_estate_monitor").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
    try:
        yield make_conninfo(admin_dsn, user=name, password=password)
    finally:
        with connect_to(admin_dsn) as c:
            c.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,)
            )
            c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def installed_ago(target: str | Conn, ago: str) -> None:
    """Pretend that the release job was registered `ago` (an interval): `status --check` waits
    for the first run of a job registered within the health rule's limit."""
    if isinstance(target, str):
        with connect_to(target) as c:
            installed_ago(c, ago)
        return
    target.execute(
        "UPDATE real_estate.release_schedule SET registered_at = now() - %s::interval", (ago,)
    )


def add_failing_trigger(conn: Conn, property_id: uuid.UUID) -> None:
    """A host's BEFORE UPDATE trigger that refuses any change of one property."""
    conn.execute(
        """
        CREATE FUNCTION public.refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'host refuses to change property %', OLD.id;
        END $$
        """
    )
    conn.execute(
        sql.SQL(
            "CREATE TRIGGER refuse_one BEFORE UPDATE ON real_estate.property FOR EACH ROW"
            " WHEN (OLD.id = {}) EXECUTE FUNCTION public.refuse_one()"
        ).format(sql.Literal(property_id))
    )
