"""What migrate, rollback and the install send, statement by statement: run on the database,
or printed as a psql script (`pyrelease migrate --sql`, `rollback --sql`).

A `Script` is one of two sinks behind the same planning code (migrations.py, install.py,
cron.py): live, each statement runs as it is planned; printed, it is written down, with
BEGIN/COMMIT around each transaction and a psql `\\connect` where the database changes. The
statements are the same text either way (parameters rendered as literals by psycopg).

Reads are not statements of the script: the planning code reads the database as it is now
(printed: on a read-only connection, so printing changes nothing) and decides what to
send. The landed migrations' Python steps run against a `StepConnection`: what they execute
is a statement, what they fetch is a read (see StepConnection).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.conninfo import make_conninfo

from .db import PIN_SEARCH_PATH, SEARCH_PATH, connect
from .errors import InvalidArgument, MigrationError
from .grants import _psql_arg

Query = str | sql.Composable
PIN = f"SET LOCAL search_path = {SEARCH_PATH}"
READ_ONLY = "-c default_transaction_read_only=on"
URI_PREFIXES = ("postgresql://", "postgres://")


class Raw(str):
    """A query parameter that is an SQL expression, inlined as it is (not a literal)."""


class _Gset(str):
    """A printed statement that ends in psql's `\\gset` (which stores its row in variables),
    not in a semicolon."""


class _RawDumper(Dumper):
    def dump(self, obj: Any) -> bytes:
        return str(obj).encode()

    def quote(self, obj: Any) -> bytes:
        return str(obj).encode()


def psql_connect(database: str) -> str:
    """`\\connect DATABASE` for psql, which reuses the user, host, port and password of the
    connection before it (so the script carries none of them). As `pyrelease grants`: a
    name that psql would read as a connection string is refused."""
    if "=" in database or database.startswith(URI_PREFIXES):
        raise InvalidArgument(
            f"database name {database!r}: psql \\connect would read it as a connection string"
        )
    return f"\\connect {_psql_arg(database)}"


class Script:
    """Statements run live on `conn` (and on connections to other databases with its
    login), or printed. Live, the script's transactions are psycopg's on `conn` (BEGIN and
    COMMIT on an autocommit connection; a savepoint inside a caller's transaction)."""

    def __init__(self, conn: psycopg.Connection[Any], *, live: bool) -> None:
        self.conn = conn
        self.live = live
        self.database = str(conn.info.dbname)
        self._others: dict[str, psycopg.Connection[Any]] = {}
        # printed: (database the entry runs in, or None for a comment or meta-command, text)
        self._out: list[tuple[str | None, str]] = []
        self._unit: list[tuple[str | None, str]] | None = None  # the open transaction's
        self._unit_db: str | None = None
        self.statements = 0
        self.done: list[str] = []
        """Live: what the install changed beyond the numbered migrations (note)."""

    # ------------------------------------------------------------------ connections

    def connection(self, database: str | None = None) -> psycopg.Connection[Any]:
        """A connection to `database` with this script's login (read-only when printing:
        it inherits the options of `conn`), kept until close(): for reads, and for the
        statements run there."""
        if database is None or database == self.database:
            return self.conn
        if database not in self._others:
            info = self.conn.info
            self._others[database] = connect(
                make_conninfo(info.dsn, dbname=database, password=info.password or None)
            )
        return self._others[database]

    def close(self) -> None:
        for other in self._others.values():
            other.close()
        self._others.clear()

    # ------------------------------------------------------------------ statements

    def render(self, query: Query, params: Any = None) -> str:
        """The statement's text, parameters inlined as literals (a Raw one as it is)."""
        if isinstance(query, sql.Composable):
            query = query.as_string(self.conn)
        if params is not None:
            cursor = psycopg.ClientCursor(self.conn)
            cursor.adapters.register_dumper(Raw, _RawDumper)
            query = cursor.mogrify(query, params)
        return query.strip().removesuffix(";").rstrip()

    def run(
        self,
        query: Query,
        params: Any = None,
        database: str | None = None,
        gset: str | None = None,
    ) -> list[tuple[Any, ...]] | None:
        """One statement: run (its rows returned), or written down (None); printed with
        `gset`, psql stores its one row in variables named `gset` + the column's name."""
        text = self.render(query, params)
        database = database or self.database
        self.statements += 1
        if self.live:
            cursor = self.connection(database).execute(text, prepare=False)
            return cursor.fetchall() if cursor.description is not None else None
        if gset is not None:
            text = _Gset(f"{text} \\gset {gset}")
        if self._unit is not None and database == self._unit_db:
            self._unit.append((database, text))
        else:
            self._out.append((database, text))
        return None

    def take_back(self, database: str, text: str) -> bool:
        """Printed: remove the statement just written down (it was a read after all)."""
        entries = self._unit if self._unit is not None and database == self._unit_db else self._out
        if entries and entries[-1] == (database, text):
            entries.pop()
            self.statements -= 1
            return True
        return False

    def note(self, text: str) -> None:
        """Live: record what was done (`pyrelease migrate` says it)."""
        if self.live:
            self.done.append(text)

    def comment(self, text: str) -> None:
        """A comment of the printed script."""
        if not self.live:
            line = "-- " + "\n-- ".join(text.splitlines())
            (self._unit if self._unit is not None else self._out).append((None, line))

    def meta(self, line: str) -> None:
        """A psql meta-command of the printed script (`\\set ON_ERROR_STOP on`)."""
        if not self.live:
            self._out.append((None, line))

    @contextmanager
    def transaction(self, database: str | None = None) -> Iterator[None]:
        """BEGIN ... COMMIT around the statements run on `database` meanwhile. Live, an
        error rolls it back (psycopg's transaction). Printed, what another database gets
        meanwhile comes before it: psql cannot keep a transaction open across `\\connect`
        (live, those statements commit on their own connection as they run, so the outcome
        is the same)."""
        database = database or self.database
        if self.live:
            # BEGIN ... COMMIT (a savepoint when the caller's connection is in a transaction)
            with self.connection(database).transaction():
                yield
            return
        if self._unit is not None:
            raise MigrationError("a transaction inside a transaction cannot be printed")
        self._unit, self._unit_db = [], database
        try:
            yield
            unit = self._unit
        finally:
            self._unit, self._unit_db = None, None
        if any(db is not None for db, _ in unit):
            self._out += [(database, "BEGIN"), *unit, (database, "COMMIT")]
        else:
            self._out += unit

    def clear(self, note: str) -> None:
        """Printed: nothing but `note` (a script that has nothing to do)."""
        self._out = [(None, f"-- {note}")]

    def text(self) -> str:
        """The psql script: each statement terminated, `\\connect` where the database
        changes."""
        lines: list[str] = []
        current = self.database
        for database, text in self._out:
            if database is None:
                lines.append(text)
                continue
            if database != current:
                lines.append(psql_connect(database))
                current = database
            lines.append(text if isinstance(text, _Gset) else _terminated(text))
        return "\n".join(lines).strip() + "\n"

    def step_connection(self, database: str | None = None) -> StepConnection:
        return StepConnection(self, database or self.database, _StepState())


def _terminated(text: str) -> str:
    """The statement with psql's terminator (on a line of its own after a comment)."""
    last = text.rsplit("\n", 1)[-1]
    return f"{text}\n;" if "--" in last else f"{text};"


class _StepState:
    """What one migration step has written down so far (shared by its connections)."""

    def __init__(self) -> None:
        self.writes = 0


class StepConnection:
    """What a migration's Python step gets instead of a psycopg connection (the landed
    migrations NEVER change, so their SQL is taken from them this way).

    `execute` (or a cursor's) is a statement of the script, in the migration's transaction:
    run live, written down when printing. A statement whose rows the step then fetches is a
    read instead: printed, it runs on the read-only connection, against the database as it
    is before the script; a read after a statement the step itself wrote down cannot be
    answered so, and is refused (as is a read that needs a change; a SET, which changes
    the session and no data, does not count). `transaction()` adds
    nothing: the migration's own transaction (or its absence, `__transactional__ = False`)
    is the script's. pyrelease's own search_path pin (db.pinned) is left out: every
    statement it guards is qualified."""

    def __init__(self, script: Script, database: str, state: _StepState) -> None:
        self.script = script
        self.database = database
        self.info = script.conn.info
        self._state = state

    def execute(self, query: Query, params: Any = None, **_: Any) -> StepCursor:
        return self.cursor().execute(query, params)

    def cursor(self, *_: Any, **__: Any) -> StepCursor:
        return StepCursor(self)

    @contextmanager
    def transaction(self, *_: Any, **__: Any) -> Iterator[StepConnection]:
        yield self

    def sibling(self, database: str) -> StepConnection:
        """The same step, on another database of the server (pg_cron's)."""
        return StepConnection(self.script, database, self._state)


class StepCursor:
    def __init__(self, step: StepConnection) -> None:
        self.step = step
        self._text: str | None = None
        self._rows: Sequence[tuple[Any, ...]] | None = None
        self._index = 0

    def execute(self, query: Query, params: Any = None, **_: Any) -> StepCursor:
        script = self.step.script
        text = script.render(query, params)
        self._text, self._rows, self._index = text, None, 0
        if query == PIN_SEARCH_PATH:
            self._rows = []
        elif script.live:
            self._rows = script.run(text, database=self.step.database) or []
        else:
            script.run(text, database=self.step.database)
            if not _SETTING.match(text):
                self.step._state.writes += 1
        return self

    def _read(self) -> Sequence[tuple[Any, ...]]:
        if self._rows is not None:
            return self._rows
        if self._text is None:
            raise MigrationError("a migration step fetched before it executed")
        script, state = self.step.script, self.step._state
        if not script.take_back(self.step.database, self._text):
            raise MigrationError(_CANNOT_PRINT + " its step reads a statement's rows late")
        state.writes -= 1
        if state.writes:
            raise MigrationError(_CANNOT_PRINT + " its step reads what it changed")
        try:
            cursor = script.connection(self.step.database).execute(self._text, prepare=False)
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            raise MigrationError(_CANNOT_PRINT + " its step needs the result of a change") from exc
        self._rows = cursor.fetchall() if cursor.description is not None else []
        return self._rows

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self._read()
        if self._index >= len(rows):
            return None
        self._index += 1
        return rows[self._index - 1]

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows = self._read()
        rest = list(rows[self._index :])
        self._index = len(rows)
        return rest

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())

    def close(self) -> None:
        pass


_SETTING = re.compile(r"\s*SET\s", re.IGNORECASE)  # a session setting: not a change to read
_CANNOT_PRINT = "--sql cannot print this migration (only `pyrelease migrate` can run it):"
