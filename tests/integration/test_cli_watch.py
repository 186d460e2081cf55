"""`pyrelease watch`: one line per release event as it is committed; Ctrl-C exits 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import IO, Any

import psycopg
import pytest

import pyrelease
from tests.factories import make_project, make_properties, make_workspace

Conn = psycopg.Connection[Any]


def start(db: str, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyrelease.cli", "--dsn", db, "watch", *args],
        cwd="/",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()  # "watching release events after #N": it is listening
    assert first.startswith("watching release events after #"), first
    return proc


def lines(stream: IO[str] | None, n: int) -> list[str]:
    assert stream is not None
    return [stream.readline().rstrip("\n") for _ in range(n)]


@pytest.fixture
def watched(conn: Conn) -> Iterator[dict[str, Any]]:
    ws = make_workspace(conn)
    project = make_project(conn, ws)
    holder = uuid.uuid4()
    [old] = make_properties(conn, ws, project, 1, "RESERVED", expired=True)
    [mine] = make_properties(conn, ws, project, 1, "RESERVED", False, holder)
    yield {"ws": ws, "project": project, "holder": holder, "old": old, "mine": mine}


def interrupt(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_watch_prints_each_release_as_it_happens(db: str, conn: Conn, watched: Any) -> None:
    proc = start(db)
    try:
        assert pyrelease.release_expired(conn) == 1
        assert pyrelease.cancel(conn, watched["mine"], watched["holder"])
        first, second = lines(proc.stdout, 2)
    finally:
        code, err = interrupt(proc)
    assert code == 0, err
    assert "Traceback" not in err
    assert " expired: property " + str(watched["old"]) in first
    assert f"project {watched['project']} workspace {watched['ws']}" in first
    assert " cancelled: property " + str(watched["mine"]) in second
    assert f"holder {watched['holder']}" in second


def test_watch_json_and_after(db: str, conn: Conn, watched: Any) -> None:
    assert pyrelease.release_expired(conn) == 1  # before the watch: shown with --after 0
    proc = start(db, "--after", "0", "--json")
    try:
        [line] = lines(proc.stdout, 1)
        assert pyrelease.cancel(conn, watched["mine"], watched["holder"])
        [line2] = lines(proc.stdout, 1)
    finally:
        code, err = interrupt(proc)
    assert code == 0, err
    events = [json.loads(line), json.loads(line2)]
    assert [(e["property_id"], e["reason"]) for e in events] == [
        (str(watched["old"]), "expired"),
        (str(watched["mine"]), "cancelled"),
    ]
    assert events[1]["reserved_by_id"] == str(watched["holder"])
    assert events[0]["id"] < events[1]["id"]
    assert set(events[0]) == {
        "id",
        "run_id",
        "property_id",
        "workspace_id",
        "project_id",
        "reserved_by_id",
        "reserved_until",
        "released_at",
        "reason",
    }


@pytest.mark.parametrize("after", ["-1", "x", "1.5"])
def test_watch_bad_after_is_a_usage_error(db: str, after: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pyrelease.cli", "--dsn", db, "watch", "--after", after],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("pyrelease watch: error:")


def test_watch_idle_then_interrupted_exits_0(db: str) -> None:
    proc = start(db)
    time.sleep(1.2)
    code, err = interrupt(proc)
    assert code == 0, err
    assert "Traceback" not in err


def purged_history(conn: Conn, watched: Any) -> tuple[list[int], int]:
    """Three events of a run 40 days old, one recent (the cancellation): the purge deletes the
    old ones. Returns their ids and the recent one's."""
    run_id = conn.execute(
        "INSERT INTO real_estate.release_run (source, started_at)"
        " VALUES ('call', now() - interval '40 days') RETURNING id"
    ).fetchone()[0]  # type: ignore[index]
    old = [
        conn.execute(
            "INSERT INTO real_estate.release_event (run_id, property_id, workspace_id,"
            " reserved_by_id, reserved_until, released_at, reason) VALUES (%s,"
            " gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), now(), now(),"
            " 'cancelled') RETURNING id",
            (run_id,),
        ).fetchone()[0]  # type: ignore[index]
        for _ in range(3)
    ]
    assert pyrelease.cancel(conn, watched["mine"], watched["holder"])
    conn.execute("SELECT real_estate.purge_release_log('30 days')")
    recent = conn.execute("SELECT max(id) FROM real_estate.release_event").fetchone()[0]  # type: ignore[index]
    return old, recent


def test_watch_after_a_purged_cursor_says_so_in_one_line(db: str, conn: Conn, watched: Any) -> None:
    old, _ = purged_history(conn, watched)
    done = subprocess.run(
        [sys.executable, "-m", "pyrelease.cli", "--dsn", db, "watch", "--after", str(old[0])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    watching, line = done.stderr.strip().splitlines()
    assert watching.startswith(f"watching release events after #{old[0]}")
    assert line == (
        f"pyrelease: error: release events after id {old[0]} were purged up to id {old[-1]}"
        f" (older than the log retention); ids from {old[-1] + 1} on are kept"
        f" (--after {old[-1]} goes on)"
    )


def test_watch_from_0_names_the_purged_range_once(db: str, conn: Conn, watched: Any) -> None:
    old, recent = purged_history(conn, watched)
    proc = start(db, "--after", "0", "--json")
    try:
        [line] = lines(proc.stdout, 1)
        assert proc.stderr is not None
        named = proc.stderr.readline().rstrip("\n")
    finally:
        code, err = interrupt(proc)
    assert code == 0, err
    assert json.loads(line)["id"] == recent
    assert named == (
        f"pyrelease: listen: release events up to #{old[-1]} were purged (log retention):"
        f" starting from the oldest kept, after #{old[-1]}"
    )
    assert "purged" not in err


def test_watch_starts_after_the_purged_events_by_default(db: str, conn: Conn, watched: Any) -> None:
    """The default start is the newest event id, committed or purged (not 0 when every event
    kept is gone)."""
    old, recent = purged_history(conn, watched)
    conn.execute("DELETE FROM real_estate.release_event WHERE id = %s", (recent,))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyrelease.cli", "--dsn", db, "watch"],
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline().rstrip("\n")
    code, err = interrupt(proc)
    assert code == 0, err
    assert first == f"watching release events after #{old[-1]} (Ctrl-C to stop)"
    assert "purged" not in err
