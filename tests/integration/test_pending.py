"""A database that lacks some of the package's migrations (a supported rollback, or a package
upgraded and not migrated yet): every command says in one line which migrations are pending
and that `pyrelease migrate` applies them; `status` shows what it still can, and
`status --check` gives a verdict instead of a schema error."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from factories import connect_to, migration_ids, monitor_login, run_main

import pyrelease
from pyrelease import NotMigrated

REASON = "0007.release-event-reason"


def pending_line(pending: list[str]) -> str:
    return f"migrations pending: {', '.join(pending)} (`pyrelease migrate` applies them)"


def rollback_to_before(dsn: str, migration: str) -> list[str]:
    """Roll back until `migration` is undone; return the pending ids, in order."""
    undone: list[str] = []
    while migration not in undone:
        undone += pyrelease.rollback(dsn, steps=1)
    return sorted(undone)


def test_after_a_rollback_to_before_0007_every_command_says_what_is_pending(
    capsys: pytest.CaptureFixture[str], fresh_db: str
) -> None:
    pyrelease.migrate(fresh_db)
    pending = rollback_to_before(fresh_db, REASON)
    assert pending == [m for m in migration_ids() if m >= REASON]
    line = pending_line(pending)

    code, out, err = run_main(capsys, "--dsn", fresh_db, "status")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[1] == line
    assert "backlog: unknown until the migrations are applied" in lines
    assert lines[-1] == "last release runs: none"  # what it can still read, it shows

    code, out, err = run_main(capsys, "--dsn", fresh_db, "status", "--check")
    assert (code, err) == (1, f"pyrelease: error: unhealthy: {line}\n")
    code, out, err = run_main(capsys, "--dsn", fresh_db, "status", "--json", "--check")
    report = json.loads(out)
    assert code == 1
    assert (report["healthy"], report["reason"], report["pending_migrations"]) == (
        False,
        line,
        pending,
    )
    assert report["backlog"] is None and report["counter_drift"] is None

    for command in (
        ["release"],
        ["release", "--property-id", "00000000-0000-0000-0000-000000000001"],
        ["watch", "--after", "0"],
        ["schedule"],
    ):
        code, out, err = run_main(capsys, "--dsn", fresh_db, *command)
        assert (code, out) == (1, ""), command
        assert err == f"pyrelease: error: {command[0]}: {line}\n", command
    code, out, err = run_main(capsys, "--dsn", fresh_db, "unschedule")
    assert (code, out, err) == (0, "release job removed\n", f"pyrelease: {line}\n")

    # the API: one package error, not a schema error
    with connect_to(fresh_db) as conn, pytest.raises(NotMigrated, match="pyrelease migrate"):
        pyrelease.release_events(conn)

    assert pyrelease.migrate(fresh_db) == pending
    code, out, err = run_main(capsys, "--dsn", fresh_db, "status")
    assert code == 0 and "pending" not in out
    pyrelease.rollback(fresh_db, steps="all")


def test_at_any_earlier_migration_status_check_gives_a_verdict(
    capsys: pytest.CaptureFixture[str], fresh_db: str
) -> None:
    ids = migration_ids()
    pyrelease.migrate(fresh_db)
    for position in range(len(ids) - 1, 0, -1):
        assert pyrelease.rollback(fresh_db, steps=1) == [ids[position]]
        line = pending_line(ids[position:])
        code, out, err = run_main(capsys, "--dsn", fresh_db, "status", "--check")
        assert (code, err) == (1, f"pyrelease: error: unhealthy: {line}\n"), ids[position]
        assert out.splitlines()[1] == line
        code, out, err = run_main(capsys, "--dsn", fresh_db, "release")
        assert err == f"pyrelease: error: release: {line}\n", ids[position]
    assert pyrelease.rollback(fresh_db, steps=1) == [ids[0]]
    for command in (["status", "--check"], ["release"]):  # nothing of pyrelease left
        code, _, err = run_main(capsys, "--dsn", fresh_db, *command)
        assert code == 1
        assert err.endswith("the database is not migrated: run `pyrelease migrate`\n"), err


def test_a_monitor_learns_that_migrations_are_pending(
    capsys: pytest.CaptureFixture[str], server: Any, fresh_db: str
) -> None:
    """After rolling back 0012 the monitor's grants are gone with it; the catalog still tells
    it that migrations are pending (without naming them)."""
    pyrelease.migrate(fresh_db)
    try:
        with monitor_login(fresh_db) as monitor:
            assert run_main(capsys, "--dsn", monitor, "status")[0] == 0
            pending = rollback_to_before(fresh_db, "0012.monitoring")
            assert pending == [m for m in migration_ids() if m >= "0012.monitoring"]
            code, _, err = run_main(capsys, "--dsn", monitor, "status", "--check")
            assert code == 1
            assert err == (
                "pyrelease: error: unhealthy: migrations pending (this role cannot read"
                " public._yoyo_migration to name them): `pyrelease migrate` applies them\n"
            )
            with connect_to(monitor) as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute("SELECT count(*) FROM real_estate.property")
    finally:
        pyrelease.rollback(fresh_db, steps="all")
