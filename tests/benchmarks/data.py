"""The benchmark's databases: one template per N (migrated, loaded, frozen) and copies of it.

Every contender runs on its own `CREATE DATABASE copy TEMPLATE tmpl STRATEGY FILE_COPY`,
so all of them start from byte-identical data. The data are reproducible: ids are md5
hashes of row numbers and every random choice comes from random() after setseed().
"""

from __future__ import annotations

import sys
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

import pyrelease

PREFIX = "pyrelease_bench_"
SEED = 0.4242
WORKSPACES = 100
PROJECTS_PER_WORKSPACE = 10
CHUNK = 100_000
CANDIDATES = 1_000_000
BENCH_SQL = Path(__file__).with_name("bench.sql")

_started = time.monotonic()


def progress(message: str) -> None:
    """One progress line on stderr, stamped with the time since the run started."""
    elapsed = int(time.monotonic() - _started)
    print(f"[bench {elapsed // 60:3d}:{elapsed % 60:02d}] {message}", file=sys.stderr, flush=True)


def label(n: int) -> str:
    """100000 -> '100k', 1000000 -> '1M'."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def expired_count(n: int) -> int:
    """Rows i with i % 20 == 0 are expired reservations: E = 5% of N."""
    return n // 20


@dataclass(frozen=True)
class Cluster:
    """The server, reached through `dsn` (any database; used for CREATE/DROP DATABASE)."""

    dsn: str

    def dsn_for(self, dbname: str) -> str:
        return make_conninfo(self.dsn, dbname=dbname)

    def connect(self, dbname: str | None = None) -> psycopg.Connection[Any]:
        dsn = self.dsn_for(dbname) if dbname else self.dsn
        return psycopg.connect(dsn, autocommit=True)

    def execute(self, query: str | sql.Composable, dbname: str | None = None) -> None:
        with self.connect(dbname) as conn:
            conn.execute(query)

    def checkpoint(self) -> None:
        self.execute("CHECKPOINT")

    def drop(self, dbname: str) -> None:
        self.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )

    def create(self, dbname: str, template: str | None = None) -> str:
        self.drop(dbname)
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname))
        if template:
            # FILE_COPY: a file-level copy (two checkpoints), not a WAL-logged page-by-page one.
            query += sql.SQL(" TEMPLATE {} STRATEGY FILE_COPY").format(sql.Identifier(template))
        self.execute(query)
        return self.dsn_for(dbname)

    @contextmanager
    def copy(self, template: str, dbname: str) -> Iterator[str]:
        """A fresh copy of `template`, dropped on exit; yields its DSN."""
        dsn = self.create(dbname, template)
        try:
            yield dsn
        finally:
            self.drop(dbname)

    def drop_leftovers(self, keep: Collection[str] = ()) -> None:
        """Drop this benchmark's databases and cron jobs left by an interrupted run, but the
        databases named in `keep` (the templates a run goes on using)."""
        with self.connect() as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",)
                )
                if r[0] not in keep
            ]
            cron_db = conn.execute("SELECT current_setting('cron.database_name', true)").fetchone()
        for name in names:
            progress(f"dropping leftover database {name}")
            self.execute(
                sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(sql.Identifier(name))
            )
            self.drop(name)
        if cron_db and cron_db[0]:
            with self.connect(cron_db[0]) as conn:
                if conn.execute("SELECT to_regclass('cron.job') IS NOT NULL").fetchone() == (True,):
                    conn.execute(
                        "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE %s",
                        ("release-expired-reservations%:" + PREFIX.replace("_", r"\_") + "%",),
                    )

    def drop_template(self, dbname: str) -> None:
        self.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(sql.Identifier(dbname)))
        self.drop(dbname)

    def finish_template(self, dbname: str) -> None:
        """Freeze, analyze and checkpoint, then mark `dbname` as a template."""
        self.execute("VACUUM (FREEZE, ANALYZE)", dbname)
        self.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE true").format(sql.Identifier(dbname)))
        self.checkpoint()


def reserved_index(conn: psycopg.Connection[Any]) -> str:
    """The partial index the release scans (the one index of real_estate.property with a
    WHERE clause), as a qualified name."""
    row = conn.execute(
        """SELECT indexrelid::regclass::text FROM pg_index
            WHERE indrelid = 'real_estate.property'::regclass AND indpred IS NOT NULL"""
    ).fetchone()
    assert row is not None, "real_estate.property has no partial index"
    return str(row[0])


LOAD_PROPERTIES = """
INSERT INTO real_estate.property
       (id, workspace_id, project_id, name, status, reserved_by_id, reserved_until)
SELECT md5('property-' || g.i)::uuid,
       md5('workspace-' || ((g.p - 1) / %(per_ws)s + 1))::uuid,
       md5('project-' || g.p)::uuid,
       'Plot ' || g.i,
       CASE WHEN g.i %% 10 = 0 THEN 'RESERVED' ELSE 'AVAILABLE' END,
       CASE WHEN g.i %% 10 = 0 THEN md5('user-' || g.u)::uuid END,
       CASE g.i %% 20
            WHEN 0 THEN now() - interval '1 minute' - g.r * interval '30 days'  -- expired
            WHEN 10 THEN now() + interval '1 day' + g.r * interval '6 days'    -- live
       END
  FROM (SELECT i,
               1 + floor(random() * %(projects)s)::integer AS p,
               floor(random() * 10000)::integer AS u,
               random() AS r
          FROM generate_series(%(lo)s::integer, %(hi)s::integer) AS i
        OFFSET 0) AS g  -- OFFSET 0: each random() is drawn once per row
"""


def build_template(cluster: Cluster, n: int) -> str:
    """Create, migrate and load the template database for N properties; return its name.

    100 workspaces x 10 projects; property i is RESERVED when i % 10 = 0, expired when
    i % 20 = 0 (E = N/20), otherwise AVAILABLE; projects, holders and expiries are random.
    Also creates the `bench` schema (bench.sql): the bare copy of the property table, the
    reserve candidates and the helper functions.
    """
    name = f"{PREFIX}tmpl_{label(n)}".lower()
    dsn = cluster.create(name)
    progress(f"N={label(n)}: migrating {name}")
    pyrelease.migrate(dsn)
    pyrelease.unschedule(dsn)  # pg_cron must never touch the benchmark's databases
    projects = WORKSPACES * PROJECTS_PER_WORKSPACE
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT setseed(%s)", (SEED,))
        with conn.transaction():
            # Data valid by construction: skip per-row FK checks and the counter trigger
            # while loading; the counters are computed once at the end.
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute(
                """INSERT INTO real_estate.workspace (id, name)
                   SELECT md5('workspace-' || w)::uuid, 'Workspace ' || w
                     FROM generate_series(1, %s) AS w""",
                (WORKSPACES,),
            )
            conn.execute(
                """INSERT INTO real_estate.project (id, workspace_id, name)
                   SELECT md5('project-' || p)::uuid,
                          md5('workspace-' || ((p - 1) / %s + 1))::uuid, 'Project ' || p
                     FROM generate_series(1, %s) AS p""",
                (PROJECTS_PER_WORKSPACE, projects),
            )
            for lo in range(1, n + 1, CHUNK):
                hi = min(lo + CHUNK - 1, n)
                params = {
                    "per_ws": PROJECTS_PER_WORKSPACE,
                    "projects": projects,
                    "lo": lo,
                    "hi": hi,
                }
                conn.execute(LOAD_PROPERTIES, params)
                progress(f"N={label(n)}: loaded {hi:,}/{n:,} properties")
            conn.execute(
                """UPDATE real_estate.project AS pr
                      SET available_plots = c.available, total_plots = c.total
                     FROM (SELECT project_id, count(*) AS total,
                                  count(*) FILTER (WHERE status = 'AVAILABLE') AS available
                             FROM real_estate.property GROUP BY project_id) AS c
                    WHERE pr.id = c.project_id"""
            )
        progress(f"N={label(n)}: bench schema (bare table copy, reserve candidates)")
        conn.execute("SET synchronize_seqscans = off")  # copy rows in heap order
        conn.execute(BENCH_SQL.read_text())
        conn.execute(
            """INSERT INTO bench.candidate (n, id)
               SELECT row_number() OVER (ORDER BY random()), id
                 FROM real_estate.property WHERE status = 'AVAILABLE'
                LIMIT %s""",
            (CANDIDATES,),
        )
        drift = conn.execute("SELECT count(*) FROM real_estate.check_invariants()").fetchone()
        assert drift == (0,), f"template {name} violates invariants: {drift}"
    cluster.finish_template(name)
    return name


def build_backlog_template(cluster: Cluster, source: str, n: int, backlog: int) -> str:
    """A template derived from `source` where `backlog` reservations have expired.

    Live reservations are moved 8 days back (they expire in 1-7 days), oldest first, until
    the backlog is reached; when `source` has more expired ones than that (N = 10M), the
    newest of them are moved 30 days ahead instead. Nothing else changes (status and
    counters stay as they are).
    """
    name = f"{PREFIX}tmpl_{label(n)}_backlog_{label(backlog)}".lower()
    dsn = cluster.create(name, source)
    more = backlog - expired_count(n)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            """UPDATE real_estate.property
                  SET reserved_until = reserved_until - interval '8 days'
                WHERE id IN (SELECT id FROM real_estate.property
                              WHERE status = 'RESERVED' AND reserved_until > now()
                              ORDER BY reserved_until LIMIT %s)"""
            if more >= 0
            else """UPDATE real_estate.property
                       SET reserved_until = now() + interval '30 days'
                     WHERE id IN (SELECT id FROM real_estate.property
                                   WHERE status = 'RESERVED' AND reserved_until <= now()
                                   ORDER BY reserved_until DESC LIMIT %s)""",
            (abs(more),),
        )
        got = conn.execute(
            "SELECT expired_reservations FROM real_estate.release_backlog"
        ).fetchone()
        assert got == (backlog,), f"backlog template: {got} expired, wanted {backlog}"
    cluster.finish_template(name)
    return name
