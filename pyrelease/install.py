"""The install core: what follows the numbered migrations, whichever tool applied them.

`pyrelease migrate` calls `install` after yoyo's numbered migrations, and so does the install
marker that `yoyo apply` runs (migrations/install.*.py, see migrations.py); a driver for
another migration tool calls it the same way. It does two things, with one strictness:

* the routines, triggers and views of plpgsql/ (one file per object, named after it), run in
  dependency order in one transaction under lock_timeout, only when their combined SHA-256
  differs from the one recorded in real_estate.routine_source: an unchanged install takes no
  lock. Each file is idempotent (CREATE OR REPLACE, grants); a file whose routine changed
  signature starts with an explicit DROP of the old one.
* the release job (cron.converge): registered when missing, repaired when altered. pg_cron
  refusing it is a MigrationError; without pg_cron, or with schedule=False, one warning line.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import sqlparse

from . import cron
from .db import pinned
from .errors import MigrationError, PyreleaseError, first_line, one_line, translate, translated
from .queries import QUERIES, sql_dir
from .script import PIN, Script

log = logging.getLogger("pyrelease")

LOCK_TIMEOUT = "10s"
NO_SCHEDULE = "no release schedule was created (--no-schedule)"
_DEPENDS = re.compile(r"^-- depends: (.+)$", re.MULTILINE)


def install(conn: psycopg.Connection[Any], schedule: bool = True) -> None:
    """The routines from plpgsql/ when their source changed, then the release job, run on
    `conn` (autocommit, outside a transaction).

    Raises MigrationError (one line) when either fails; the routines stay installed when
    only the job failed. Run it again once the cause is fixed."""
    script = Script(conn, live=True)
    try:
        install_on(script, schedule)
    finally:
        script.close()


def install_on(script: Script, schedule: bool = True) -> None:
    """install(), on a script: run, or printed (`migrate --sql`)."""
    try:
        install_routines(script)
    except PyreleaseError:
        raise
    except Exception as exc:
        raise failed(exc) from exc
    if not schedule:
        log.warning("%s", NO_SCHEDULE)
        script.comment(f"the release job: {NO_SCHEDULE}")
        return
    try:
        job = cron.converge(script)
    except psycopg.errors.QueryCanceled as exc:
        raise stopped(exc) from exc
    except PyreleaseError as exc:
        raise MigrationError(
            f"the migrations are applied, but the release job could not be registered: {exc}"
            " (fix it and run `pyrelease migrate` again; `--no-schedule` migrates without it)"
        ) from exc
    if job is None:
        log.warning("%s", cron.NO_PG_CRON)
        script.comment(f"the release job: {cron.NO_PG_CRON}")


def routine_files(folder: Path | None = None) -> list[Path]:
    """plpgsql/*.sql in install order: by name, each after the files its `-- depends:` lists."""
    files = {p.stem: p for p in sorted((folder or sql_dir("plpgsql")).glob("*.sql"))}
    ordered: list[Path] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if files[name] in ordered:
            return
        if name in visiting:
            raise PyreleaseError(f"plpgsql/{name}.sql: circular `-- depends:`")
        visiting.add(name)
        for found in _DEPENDS.findall(files[name].read_text(encoding="utf-8")):
            for dep in (d.strip() for d in found.split(",")):
                if dep not in files:
                    raise PyreleaseError(f"plpgsql/{name}.sql depends on missing {dep}.sql")
                visit(dep)
        ordered.append(files[name])

    for name in files:
        visit(name)
    return ordered


def source_digest(files: list[Path]) -> str:
    """SHA-256 of the files' names and texts, in install order."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def routine_statements(files: list[Path]) -> Iterator[str]:
    """The files' statements, one at a time, comments-only fragments left out.

    One statement per call: Citus forwards some DDL on distributed tables (CREATE TRIGGER)
    to the workers as the client's query string, which must then hold a single statement."""
    for path in files:
        for statement in sqlparse.split(path.read_text(encoding="utf-8")):
            if sqlparse.format(statement, strip_comments=True).strip():
                yield statement


def installed_digest(conn: psycopg.Connection[Any]) -> str | None:
    """The SHA-256 of the plpgsql/ source last installed (None: none, or no table yet)."""
    with translated(), pinned(conn):
        found = conn.execute("SELECT pg_catalog.to_regclass('real_estate.routine_source')")
        if found.fetchone() == (None,):
            return None
        row = conn.execute(QUERIES["routine_source"]).fetchone()
    return None if row is None else str(row[0])


def install_routines(script: Script) -> None:
    """(Re)create plpgsql/'s objects if their source changed since the last install: one
    transaction, under lock_timeout, with search_path pinned."""
    files = routine_files()
    digest = source_digest(files)
    if installed_digest(script.conn) == digest:
        return
    script.comment(
        f"the routines, triggers and views of plpgsql/ ({len(files)} files, SHA-256 {digest}),"
        " re-created in one transaction"
    )
    with script.transaction():
        script.run(PIN)
        script.run(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        for statement in routine_statements(files):
            script.run(statement)
        script.run(QUERIES["record_routine_source"], {"sha256": digest})
    script.note("re-created the routines, triggers and views of plpgsql/ (their source changed)")


def failed(
    exc: Exception,
    migration: str | None = None,
    transactional: bool = True,
    command: str = "migrate",
) -> MigrationError:
    """A migration step (or the install) that failed with an error not the package's own:
    which one, the server's message and its hint, and what the failure left behind."""
    if isinstance(exc, psycopg.errors.QueryCanceled):
        message = explained(exc)
    else:
        message = first_line(translate(exc) or exc)
    hint = getattr(getattr(exc, "diag", None), "message_hint", None)
    if hint:
        message += f"; hint: {one_line(hint)}"
    left = (
        "a transactional migration was rolled back whole"
        if transactional
        else "it is not transactional: what its statements did before the failure stays"
        " (a CONCURRENTLY build leaves an INVALID index, which the next `pyrelease migrate`"
        " drops and rebuilds)"
    )
    what = f"migration {migration}" if migration else "migration"
    return MigrationError(
        f"{what} failed: {message} ({left}; fix the cause and run `pyrelease {command}` again)"
    )


def stopped(exc: psycopg.errors.QueryCanceled) -> MigrationError:
    """A statement cancelled outside the migration steps: pyrelease never cancels its own."""
    return MigrationError(f"migrate stopped: {explained(exc)}")


def explained(exc: BaseException) -> str:
    """An error in one line; a cancellation also says how to raise statement_timeout."""
    if isinstance(exc, psycopg.errors.QueryCanceled):
        # A statement timeout that fires as the next statement starts is reported by
        # PostgreSQL as a user request.
        cause = (
            "statement_timeout is too low to migrate"
            if "statement timeout" in str(exc)
            else "cancelled by a cancel request, or by a statement timeout"
        )
        return (
            f"{first_line(exc)} ({cause}: raise statement_timeout for this"
            " role or connection, e.g. PGOPTIONS='-c statement_timeout=0')"
        )
    return first_line(exc)
