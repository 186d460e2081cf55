"""Apply and roll back pyrelease's migrations, kept in yoyo's format and bookkeeping, on
any libpq connection string; print what that runs (`--sql`); run it on an alembic or Django
connection (upgrade, downgrade).

The numbered migrations, then the install core (install.install_on: the routines from
plpgsql/, then the release job), are planned statement by statement into a Script
(script.py): run by `pyrelease migrate` (under yoyo's lock), printed by `migrate --sql`,
run on the caller's connection by the alembic and Django drivers. The migrations' steps
are yoyo's: their SQL, and what their Python sends (a StepConnection records it); yoyo's
tables get the rows yoyo writes. `pyrelease migrate` runs the core on every migrate.

yoyo runs a step only for a migration it has not applied yet, so migrations/ also holds
an install marker for `yoyo apply`: install.<digest>.py, written by `make schema`, its id a
digest of plpgsql/ and of the numbered migrations' ids, its step the core. A release
that changes either brings a new marker, which `yoyo apply` runs after the numbered ones (and
runs again after a failure, as `pyrelease migrate` does). The yoyo migration table holds a
marker only while it is true: installing another release's routines forgets the others, and
any rollback forgets them all (the next `yoyo apply` runs its marker again). `pyrelease
migrate` records none and reports none: it returns the numbered migrations it applied.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from yoyo import exceptions as yoyo_exceptions
from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import parse_uri
from yoyo.migrations import StepGroup, ancestors, topological_sort

from . import __version__
from .db import connect, pinned
from .errors import (
    InvalidArgument,
    MigrationError,
    PyreleaseError,
    expect_row,
    first_line,
    translate,
    translated,
)
from .install import (
    LOCK_TIMEOUT,
    explained,
    failed,
    install_on,
    installed_digest,
    stopped,
)
from .owner import require_owner
from .queries import sql_dir
from .script import READ_ONLY, Script

log = logging.getLogger("pyrelease")

MIGRATION_TABLE = "_yoyo_migration"
MARKER = re.compile(r"install\.[0-9a-f]{16}")


def migrations_dir() -> str:
    """The folder of the numbered migrations (and the install marker), for DBAs who run
    `yoyo apply` themselves: yoyo.ini is not in the wheel, this folder is."""
    return str(sql_dir("migrations"))


def is_marker(migration_id: str) -> bool:
    """Whether a yoyo migration id is an install marker's (not a numbered migration's)."""
    return MARKER.fullmatch(migration_id) is not None


def migrate(dsn: str = "", schedule: bool = True) -> list[str]:
    """Apply every pending numbered migration, then the install core (install.install);
    return the migrations' ids (empty when up to date).

    The core installs the routines from plpgsql/ when they changed and converges on the
    release job: re-created when missing or altered (keeping its schedule and retention),
    a MigrationError when pg_cron is installed but refuses it. Without pg_cron, or with
    schedule=False (`--no-schedule`), one warning line says that no schedule was created.
    What it runs is what migrate_sql() prints (one planning code, see script.py)."""
    return migrate_outcome(dsn, schedule).applied


@dataclass(frozen=True)
class Migrated:
    """What `pyrelease migrate` did: the numbered migrations it applied, and what else the
    install changed (the routines re-created, the release job registered or repaired)."""

    applied: list[str]
    done: list[str]


def migrate_outcome(dsn: str = "", schedule: bool = True) -> Migrated:
    """migrate(), saying also what the install changed beyond the numbered migrations."""
    with _backend(dsn, "migrate") as backend, _lock(backend), _cancellations():
        script = Script(backend.connection, live=True)
        applied = _framed(script, "migrate", _apply(schedule))
        return Migrated(applied, script.done)


def migrate_sql(dsn: str = "", schedule: bool = True) -> str:
    """The psql script migrate() would run on this database now, changing nothing."""
    with _printing(dsn, "migrate --sql") as script:
        _framed(script, "printed", _apply(schedule))
        return script.text()


def rollback_sql(dsn: str = "", steps: int | Literal["all"] = 1) -> str:
    """The psql script rollback() would run on this database now, changing nothing."""
    _check_steps(steps)
    with _printing(dsn, "rollback --sql") as script:
        _framed(script, "printed", _rollback(steps))
        return script.text()


def upgrade(
    conn: psycopg.Connection[Any], target: str | None = None, schedule: bool = True
) -> list[str]:
    """migrate() on the caller's connection (alembic's, Django's: autocommit, outside a
    transaction), up to the numbered migration `target` (None: every one). The install
    core follows only when every numbered migration is applied: the routines of plpgsql/
    are the package's latest, written for its latest migration. Returns the ids applied."""
    with _driving(conn, "migrate") as script:
        return _framed(script, "driver", _apply(schedule, _known(target)))


def downgrade(conn: psycopg.Connection[Any], target: str | None = None) -> list[str]:
    """rollback() on the caller's connection, back to the numbered migration `target` (it
    stays applied; None: every one is rolled back). Returns the ids rolled back."""
    with _driving(conn, "rollback") as script:
        return _framed(script, "driver", _rollback("all", _known(target)))


def apply_marker(conn: psycopg.Connection[Any], marker_id: str) -> None:
    """The install marker's step, under `yoyo apply`: the install core, then the other
    releases' markers forgotten (yoyo records this one once the step succeeded)."""
    require_owner(conn, "yoyo apply")
    script = Script(conn, live=True)
    try:
        install_on(script)
        _forget_markers(script, read_state(conn), keep={marker_id})
    finally:
        script.close()


# ---------------------------------------------------------------------- what is applied


@dataclass(frozen=True)
class State:
    """What the planning reads first, and the script checks before it changes anything."""

    applied: tuple[str, ...]  # numbered migrations, sorted
    markers: tuple[str, ...]  # install markers yoyo recorded
    bookkeeping: tuple[str, ...]  # yoyo's tables that exist
    digest: str | None  # routine_source
    role: str


def read_state(conn: psycopg.Connection[Any]) -> State:
    with translated(), pinned(conn):
        role, *tables = expect_row(conn.execute(_STATE).fetchone(), "state")
        ids: list[str] = []
        if tables[0]:
            ids = [r[0] for r in conn.execute(_APPLIED).fetchall()]
    present = tuple(t for t, there in zip(BOOKKEEPING_TABLES, tables, strict=True) if there)
    return State(
        applied=tuple(sorted(i for i in ids if not is_marker(i))),
        markers=tuple(sorted(i for i in ids if is_marker(i))),
        bookkeeping=present,
        digest=installed_digest(conn),
        role=str(role),
    )


BOOKKEEPING_TABLES = ("_yoyo_migration", "_yoyo_log", "_yoyo_version")
_STATE = "SELECT SESSION_USER::pg_catalog.text, " + ", ".join(
    f"pg_catalog.to_regclass('public.{t}') IS NOT NULL" for t in BOOKKEEPING_TABLES
)
_APPLIED = "SELECT m.migration_id::pg_catalog.text FROM public._yoyo_migration AS m"

# yoyo 9's bookkeeping (its internal schema version 2), in public as pyrelease reads it.
_CREATE_BOOKKEEPING = (
    "CREATE TABLE public._yoyo_log (id VARCHAR(36), migration_hash VARCHAR(64),"
    " migration_id VARCHAR(255), operation VARCHAR(10), username VARCHAR(255),"
    " hostname VARCHAR(255), comment VARCHAR(255), created_at_utc TIMESTAMP, PRIMARY KEY (id))",
    "CREATE TABLE public._yoyo_version (version INT NOT NULL PRIMARY KEY,"
    " installed_at_utc TIMESTAMP)",
    "CREATE TABLE public._yoyo_migration (migration_hash VARCHAR(64),"
    " migration_id VARCHAR(255), applied_at_utc TIMESTAMP, PRIMARY KEY (migration_hash))",
)
_UTC_NOW = "pg_catalog.timezone('UTC', pg_catalog.clock_timestamp())"
_VERSION = f"INSERT INTO public._yoyo_version (version, installed_at_utc) VALUES (2, {_UTC_NOW})"
_LOG = (
    "INSERT INTO public._yoyo_log (id, migration_hash, migration_id, operation, username,"
    " hostname, comment, created_at_utc) VALUES (pg_catalog.gen_random_uuid()::pg_catalog.text,"
    " %(hash)s, %(id)s, %(operation)s, SESSION_USER,"
    " COALESCE(pg_catalog.host(pg_catalog.inet_client_addr()), '[local]'), %(comment)s,"
    f" {_UTC_NOW})"
)
_MARK = (
    "INSERT INTO public._yoyo_migration (migration_hash, migration_id, applied_at_utc)"
    f" VALUES (%(hash)s, %(id)s, {_UTC_NOW})"
)
_UNMARK = "DELETE FROM public._yoyo_migration WHERE migration_hash = %(hash)s"
_FORGET = "DELETE FROM public._yoyo_migration WHERE migration_id = ANY (%(ids)s::pg_catalog.text[])"
_LOCK_TABLE = (
    "CREATE TABLE IF NOT EXISTS public.yoyo_lock"
    " (locked INT DEFAULT 1, ctime TIMESTAMP, pid INT NOT NULL, PRIMARY KEY (locked))"
)
_UNLOCK = "DELETE FROM public.yoyo_lock WHERE pid = %(pid)s"
_SET_LOCK_TIMEOUT = f"SET lock_timeout = '{LOCK_TIMEOUT}'"


def _guard(conn: psycopg.Connection[Any], state: State, lock_pid: int | None) -> str:
    """One statement: refuse unless the role is the one the plan was made for, take yoyo's
    migration lock (lock_pid: its table created if need be), then refuse unless the database
    is in `state` (the migrations applied, the routines installed). One statement, so that
    a refusal leaves nothing behind (no lock)."""

    def lit(value: Any) -> str:
        return sql.Literal(value).as_string(conn)

    lock = (
        f"    {_LOCK_TABLE};\n"
        "    INSERT INTO public.yoyo_lock (locked, ctime, pid)"
        f" VALUES (1, {_UTC_NOW}, {int(lock_pid)});\n"
        if lock_pid is not None
        else ""
    )
    return f"""DO $pyrelease$
DECLARE
    v_applied pg_catalog.text[] := '{{}}';
    v_routines pg_catalog.text;
BEGIN
    IF SESSION_USER::pg_catalog.text OPERATOR(pg_catalog.<>) {lit(state.role)}
       OR CURRENT_USER::pg_catalog.text OPERATOR(pg_catalog.<>) {lit(state.role)} THEN
        RAISE EXCEPTION 'pyrelease: run this as role % (only the install''s owner migrates)',
            {lit(state.role)};
    END IF;
{lock}    IF pg_catalog.to_regclass('public._yoyo_migration') IS NOT NULL THEN
        SELECT COALESCE(pg_catalog.array_agg(m.migration_id::pg_catalog.text
                                             ORDER BY m.migration_id::pg_catalog.text COLLATE "C"),
                        '{{}}')
          INTO v_applied
          FROM public._yoyo_migration AS m
         WHERE NOT pg_catalog.starts_with(m.migration_id::pg_catalog.text, 'install.');
    END IF;
    IF pg_catalog.to_regclass('real_estate.routine_source') IS NOT NULL THEN
        SELECT s.sha256 INTO v_routines FROM real_estate.routine_source AS s;
    END IF;
    IF v_applied IS DISTINCT FROM {lit(list(state.applied))}::pg_catalog.text[]
       OR v_routines IS DISTINCT FROM {lit(state.digest)}::pg_catalog.text THEN
        RAISE EXCEPTION 'pyrelease: the database changed since this was planned (applied: %)',
            v_applied;
    END IF;
END
$pyrelease$"""


Body = Callable[[Script, State], list[str]]


def _framed(script: Script, kind: Literal["migrate", "printed", "driver"], body: Body) -> list[str]:
    """The body between the statements around it: migrate holds yoyo's lock already; the
    printed script and the drivers take it with the guard (see _guard) and release it."""
    state = read_state(script.conn)
    lock_pid = None if kind == "migrate" else os.getpid()
    if kind == "printed":
        script.comment(
            _HEADER.format(version=__version__, database=script.database, role=state.role)
        )
        script.meta("\\set ON_ERROR_STOP on")
    if kind != "driver":  # the driver's connection is the application's: no session SET
        script.run(_SET_LOCK_TIMEOUT)
    _run_guard(script, _guard(script.conn, state, lock_pid))
    planned = script.statements
    try:
        done = body(script, state)
    finally:
        if lock_pid is not None and script.live:
            with contextlib.suppress(psycopg.Error):
                script.run(_UNLOCK, {"pid": lock_pid})
    if lock_pid is not None and not script.live:
        if script.statements == planned:
            script.clear("nothing to do: the database is up to date")
        else:
            script.run(_UNLOCK, {"pid": lock_pid})
    return done


_HEADER = """pyrelease {version}: the SQL for database {database!r}, planned from its state now.
Apply it as role {role!r} (only the install's owner migrates):
    psql -X -v ON_ERROR_STOP=1 -d DSN -f THIS_FILE
It refuses a database in another state (print it again), takes yoyo's migration lock and
releases it at the end (a failure leaves it held: fix the cause, then
`pyrelease migrate --break-lock`). `\\connect` reuses the connection's login."""


def _run_guard(script: Script, guard: str) -> None:
    """The guard; live, a lock held by another migration is waited for (10 s, as yoyo)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            script.run(guard)
            return
        except psycopg.errors.UniqueViolation as exc:
            if time.monotonic() > deadline:
                raise MigrationError(
                    "another migration holds yoyo's migration lock; if none is running (one"
                    " was killed half-way), clear it with `pyrelease migrate --break-lock`"
                ) from exc
            time.sleep(0.5)
        except psycopg.errors.RaiseException as exc:
            raise MigrationError(first_line(exc)) from exc


def _apply(schedule: bool, target: str | None = None) -> Body:
    def body(script: Script, state: State) -> list[str]:
        numbered = _numbered()
        wanted = numbered if target is None else _up_to(numbered, target)
        pending = [m for m in topological_sort(wanted) if m.id not in state.applied]
        if pending and not state.bookkeeping:
            script.comment("yoyo's bookkeeping tables (yoyo 9's schema, version 2)")
            with script.transaction():
                for statement in _CREATE_BOOKKEEPING:
                    script.run(statement)
                script.run(_VERSION)
        elif pending and len(state.bookkeeping) < len(BOOKKEEPING_TABLES):
            raise MigrationError(
                f"yoyo's bookkeeping is incomplete (only {', '.join(state.bookkeeping)} in"
                " schema public): run `yoyo apply` once to repair it"
            )
        for migration in pending:
            _run_migration(script, migration, "apply")
        done = set(state.applied) | {m.id for m in pending}
        if all(m.id in done for m in numbered):
            install_on(script, schedule)
            keep = {m.id for m in read_migrations(migrations_dir()) if is_marker(m.id)}
            _forget_markers(script, state, keep)
        elif script.live:
            log.info("pyrelease's routines are not installed below its latest migration")
        return [m.id for m in pending]

    return body


def _rollback(steps: int | Literal["all"], target: str | None = None) -> Body:
    def body(script: Script, state: State) -> list[str]:
        numbered = _numbered()
        applied = list(
            reversed(list(topological_sort(m for m in numbered if m.id in state.applied)))
        )
        if target is not None:
            kept = {m.id for m in _up_to(numbered, target)}
            chosen = [m for m in applied if m.id not in kept]
        else:
            chosen = applied if steps == "all" else applied[:steps]
        if chosen:
            _forget_markers(script, state)
        for migration in chosen:
            _run_migration(script, migration, "rollback")
        return [m.id for m in chosen]

    return body


def _numbered() -> list[Any]:
    return [m for m in read_migrations(migrations_dir()) if not is_marker(m.id)]


def _up_to(numbered: list[Any], target: str) -> list[Any]:
    """The migration `target` and those it depends on."""
    [chosen] = [m for m in numbered if m.id == target]
    return [chosen, *ancestors(chosen, numbered)]


def _known(target: str | None) -> str | None:
    ids = [m.id for m in _numbered()]
    if target is not None and target not in ids:
        raise InvalidArgument(
            f"unknown pyrelease migration {target!r} (this release has {', '.join(ids)})"
        )
    return target


def head() -> str:
    """The latest numbered migration of the installed pyrelease."""
    return list(topological_sort(_numbered()))[-1].id  # type: ignore[no-any-return]


def _run_migration(script: Script, migration: Any, direction: str) -> None:
    """A migration's steps as yoyo runs them: in one transaction, or each statement on its
    own (`__transactional__ = False`); its bookkeeping rows in the migration's transaction
    (after its statements, in a transaction of their own)."""
    migration.load()
    steps = list(migration.steps)
    if direction == "rollback":
        steps.reverse()
    kind = "in one transaction" if migration.use_transactions else "each statement on its own"
    script.comment(f"{direction} {migration.id} ({kind})")
    try:
        if migration.use_transactions:
            with script.transaction():
                for step in steps:
                    _run_step(script, step, direction)
                _record(script, migration, direction)
        else:
            for step in steps:
                _run_step(script, step, direction)
            with script.transaction():
                _record(script, migration, direction)
    except PyreleaseError:
        raise
    except Exception as exc:
        command = "rollback" if direction == "rollback" else "migrate"
        raise failed(exc, migration.id, migration.use_transactions, command) from exc


def _run_step(script: Script, wrapper: Any, direction: str) -> None:
    if getattr(wrapper, "ignore_errors", None):
        raise MigrationError("a migration step with ignore_errors cannot be run or printed")
    step = wrapper.step
    if isinstance(step, StepGroup):
        for inner in reversed(step.steps) if direction == "rollback" else step.steps:
            _run_step(script, inner, direction)
        return
    action = step._apply if direction == "apply" else step._rollback
    if action is None:
        return
    if isinstance(action, str):
        script.run(action)
    else:
        action(script.step_connection())


def _record(script: Script, migration: Any, direction: str) -> None:
    """yoyo's rows for a migration applied or rolled back (as yoyo writes them, with the
    database's clock and role: the same whether migrate or psql runs it)."""
    ids = {"hash": migration.hash, "id": migration.id}
    comment = f"pyrelease {__version__}"
    script.run(_LOG, {**ids, "operation": direction, "comment": comment})
    script.run(_MARK if direction == "apply" else _UNMARK, ids)


def _forget_markers(script: Script, state: State, keep: Collection[str] = ()) -> None:
    """Delete the install markers but `keep` from yoyo's migration table."""
    forgotten = [m for m in state.markers if m not in keep]
    if forgotten:
        script.run(_FORGET, {"ids": forgotten})


@contextmanager
def _cancellations() -> Iterator[None]:
    """A statement cancelled outside the migration steps (yoyo's own queries) says why, as
    the steps' failures do: pyrelease never cancels its own."""
    try:
        yield
    except psycopg.errors.QueryCanceled as exc:
        raise stopped(exc) from exc


def rollback(dsn: str = "", steps: int | Literal["all"] = 1) -> list[str]:
    """Roll back the last `steps` applied migrations, or all of them; return their ids."""
    _check_steps(steps)
    with _backend(dsn, "rollback") as backend, _lock(backend), _cancellations():
        return _framed(Script(backend.connection, live=True), "migrate", _rollback(steps))


def _check_steps(steps: object) -> None:
    if steps != "all" and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise MigrationError(f"steps must be a positive integer or 'all', got {steps!r}")


def break_lock(dsn: str = "") -> None:
    """Remove a migration lock left by a migration that was killed half-way."""
    with _backend(dsn, "migrate --break-lock") as backend:
        backend.break_lock()


@contextmanager
def _lock(backend: PostgresqlPsycopgBackend) -> Iterator[None]:
    """yoyo's migration lock. yoyo reports any failure to take it as a lock held by another
    process (or, with no lock table, as a missing relation): find the true reason."""
    with contextlib.ExitStack() as held_lock:
        try:
            held_lock.enter_context(backend.lock(timeout=10))
        except (yoyo_exceptions.LockTimeout, psycopg.Error) as exc:
            reason = _lock_failure(backend.connection)
            if reason is not None:
                raise MigrationError(f"cannot take the migration lock: {reason}") from exc
            held = str(exc).split(" (run yoyo break-lock")[0]
            raise MigrationError(
                f"{held}; if no migration is running (one was killed half-way), "
                "clear it with `pyrelease migrate --break-lock`"
            ) from exc
        yield


def _lock_failure(conn: psycopg.Connection[Any]) -> str | None:
    """Why the lock row cannot be written, or None when it can (another process holds it):
    the lock table's creation (which yoyo ignores when it fails) and the row's insertion,
    tried again and rolled back."""
    attempts = (
        "CREATE TABLE IF NOT EXISTS public.yoyo_lock"
        " (locked INT DEFAULT 1, ctime TIMESTAMP, pid INT NOT NULL, PRIMARY KEY (locked))",
        "INSERT INTO public.yoyo_lock (locked, ctime, pid) VALUES (2, now(), 0)",
    )
    try:
        with conn.transaction(force_rollback=True):
            for statement in attempts:
                conn.execute(statement)
    except psycopg.errors.UniqueViolation:
        return None
    except psycopg.Error as exc:
        return explained(exc)
    return None


def _refuse_read_only(conn: psycopg.Connection[Any]) -> None:
    """A read-only connection cannot migrate: say so, before yoyo mistakes it for a lock."""
    try:
        row = conn.execute(
            "SELECT pg_catalog.pg_is_in_recovery(),"
            " pg_catalog.current_setting('transaction_read_only')::boolean"
        ).fetchone()
    except psycopg.Error as exc:
        raise MigrationError(f"cannot prepare migrations: {explained(exc)}") from exc
    standby, read_only = row if row is not None else (False, False)
    if standby:
        raise MigrationError("the server is a read-only standby: migrate on the primary")
    if read_only:
        raise MigrationError(
            "the connection is read-only (default_transaction_read_only is on):"
            " migrations need a read-write connection"
        )


class _Backend(PostgresqlPsycopgBackend):
    """yoyo's PostgreSQL backend on a libpq connection string.

    Not yoyo's public get_backend(URL): pyrelease accepts every libpq connection string
    (keyword form, service files, PG* variables), which a URL cannot always carry, so it
    overrides connect(), the one method yoyo calls to open the connection. The rest is
    yoyo's public backend API (lock, to_apply, apply_migrations_only, rollback_migrations).
    """

    dsn = ""
    command = "migrate"

    def connect(self, dburi: Any) -> psycopg.Connection[Any]:
        conn = connect(self.dsn)
        # yoyo writes its bookkeeping tables, whose triggers run as us, and the migrations
        # re-create the owner's routines: only the owner may (see owner.py).
        require_owner(conn, self.command)
        # Never queue behind a long transaction (and block the table behind us); the
        # transactional migrations also SET LOCAL it, for DBAs who drive yoyo directly.
        conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        _refuse_read_only(conn)
        return conn

    def create_lock_table(self) -> None:
        """yoyo ignores any failure to create its lock table, and later reports the missing
        table (a cancelled statement became 'relation "yoyo_lock" does not exist'). A
        failure is ignored only when the table is there after all."""
        try:
            with self.transaction():
                self.execute(self.format_sql(self.create_lock_table_sql))
        except psycopg.Error:
            row = self.execute(f"SELECT to_regclass('{self.lock_table_quoted}')").fetchone()
            if row is None or row[0] is None:
                raise


@contextmanager
def _backend(dsn: str, command: str) -> Iterator[PostgresqlPsycopgBackend]:
    # yoyo re-creates a backend from its class (copy() for each migration), so the DSN
    # travels as a class attribute of a per-call subclass.
    backend_class = type("Backend", (_Backend,), {"dsn": dsn, "command": command})
    try:
        backend = backend_class(parse_uri("postgresql+psycopg://"), MIGRATION_TABLE)
        backend.init_database()
    except psycopg.Error as exc:
        mapped = translate(exc)
        raise (mapped or MigrationError(f"cannot prepare migrations: {explained(exc)}")) from exc
    try:
        yield backend
    finally:
        backend.connection.close()


@contextmanager
def _printing(dsn: str, command: str) -> Iterator[Script]:
    """A script to print, planned on a read-only connection (and read-only connections to
    other databases: they inherit its options), as the owner."""
    given = conninfo_to_dict(dsn).get("options") or os.environ.get("PGOPTIONS", "")
    conn = connect(make_conninfo(dsn), options=f"{given} {READ_ONLY}".strip())
    try:
        with _cancellations():
            require_owner(conn, command)
            script = Script(conn, live=False)
            try:
                yield script
            finally:
                script.close()
    finally:
        conn.close()


@contextmanager
def _driving(conn: psycopg.Connection[Any], command: str) -> Iterator[Script]:
    """A script run on the caller's connection (alembic's, Django's), which must be in
    autocommit mode and outside a transaction (CREATE INDEX CONCURRENTLY cannot run in
    one). Its lock_timeout is put back after (a non-transactional migration sets it)."""
    if not conn.autocommit or conn.info.transaction_status != TransactionStatus.IDLE:
        raise MigrationError(
            f"{command}: pyrelease needs an autocommit connection outside a transaction"
            " (alembic: pyrelease.alembic does it in autocommit_block(); Django: atomic = False)"
        )
    with _cancellations():
        require_owner(conn, command)
        _refuse_read_only(conn)
        saved = expect_row(conn.execute("SHOW lock_timeout").fetchone(), "lock_timeout")[0]
        script = Script(conn, live=True)
        try:
            yield script
        finally:
            script.close()
            with contextlib.suppress(psycopg.Error):
                conn.execute(
                    "SELECT pg_catalog.set_config('lock_timeout', %s, false)",
                    (saved,),
                    prepare=False,
                )
