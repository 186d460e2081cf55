"""The post-apply step: install every routine, trigger and view from plpgsql/.

plpgsql/ is the only place a routine's text lives (one file per object, named after it). After
the numbered migrations, on every `pyrelease migrate` (and yoyo's migrations/post-apply.py),
`post_apply` runs the files in dependency order in one transaction, under lock_timeout, but
only when their combined SHA-256 differs from the one recorded in real_estate.routine_source:
an unchanged install takes no lock at all. Each file is idempotent (CREATE OR REPLACE, grants);
a file whose routine changed signature starts with an explicit DROP of the old one.
Then it registers the pg_cron job when it is missing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import psycopg
import sqlparse

from .errors import PyreleaseError, translated
from .queries import QUERIES

log = logging.getLogger("pyrelease")

LOCK_TIMEOUT = "10s"
_DEPENDS = re.compile(r"^-- depends: (.+)$", re.MULTILINE)


def routine_files(folder: Path | None = None) -> list[Path]:
    """plpgsql/*.sql in install order: by name, each after the files its `-- depends:` lists."""
    if folder is None:
        from .migrations import sql_dir

        folder = sql_dir("plpgsql")
    files = {p.stem: p for p in sorted(folder.glob("*.sql"))}
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


def install_routines(conn: psycopg.Connection[Any]) -> bool:
    """(Re)create plpgsql/'s objects if their source changed; True when it installed them."""
    files = routine_files()
    digest = source_digest(files)
    with translated(), conn.transaction():
        conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        row = conn.execute(QUERIES["routine_source"]).fetchone()
        if row is not None and row[0] == digest:
            return False
        for path in files:
            # One statement at a time: Citus forwards some DDL on distributed tables (CREATE
            # TRIGGER) to the workers as the client's query string, which must then hold a
            # single statement.
            for statement in sqlparse.split(path.read_text(encoding="utf-8")):
                if sqlparse.format(statement, strip_comments=True).strip():
                    conn.execute(statement.encode())
        conn.execute(QUERIES["record_routine_source"], {"sha256": digest})
    log.debug("installed %d routines, triggers and views from plpgsql/", len(files))
    return True


def ensure_schedule(conn: psycopg.Connection[Any]) -> None:
    """Register the release job when pg_cron is installed and the job is missing."""
    from .cron import cron_setup, job, register, schedule

    try:
        with conn.transaction():  # a savepoint: a refusal leaves the migration intact
            if cron_setup(conn) is not None and (existing := job(conn)) is not None:
                register(conn, existing)  # recorded for the health rule, as found
                return
            found = schedule(conn)  # without pg_cron: ScheduleError saying how to add it
    except PyreleaseError as exc:
        message = str(exc)
        if "no release schedule was created" not in message:
            message = f"no release schedule was created: {message}"
        log.warning("%s", message)
    else:
        log.info(
            "scheduled %s (%s) in database %s", found.name, found.schedule, found.cron_database
        )


def post_apply(conn: psycopg.Connection[Any], schedule: bool = True) -> None:
    """Everything that follows the numbered migrations, on every migrate."""
    install_routines(conn)
    if schedule:
        ensure_schedule(conn)
