"""pg_cron itself validates schedules: what the real pg_cron accepts, pyrelease computes the
interval of (the health rule allows two), or schedule() refuses it in one line, changing
nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from factories import cron_jobs, current_db, run_main

from pyrelease import InvalidArgument, cron

NOW = datetime(2026, 12, 2, 12, 7, 30, tzinfo=UTC)

# pg_cron 1.4.2's syntax (src/entry.c): five fields of numbers, ranges, steps after a range
# or *, lists, month and day names, 0 or 7 for Sunday; @yearly … @hourly, @reboot.
ACCEPTED = [
    "*/5 * * * *",
    "* * * * *",
    "0 3 * * *",
    "0,30 * * * *",
    "5-50/15 9-17 * * *",
    "0 0 * * 1-5",
    "0 0 * * 0",
    "0 0 * * 7",
    "0 0 * * Sun",
    "0 0 * * mon-fri",
    "0 0 1 JAN *",
    "0 0 1,15 jan-jun *",
    "0 0 1 * 5",
    "*/7 */2 */3 */4 */2",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
]
REFUSED = [
    "every day",
    "* * * *",
    "61 * * * *",
    "* 24 * * *",
    "* * 0 * *",
    "* * * 13 *",
    "* * * * 8",
    "*/0 * * * *",
    "1/5 * * * *",
    "0-60 * * * *",
    "@every",
    "@HOURLY",
    "² seconds",
    "99999999999999999999 seconds",
    "99999999999999999999 * * * *",
    "",
]
# pg_cron 1.4 accepts these but reads them otherwise than they look (a sixth field is
# ignored), never runs them, or runs them only when the server starts (no interval to be
# late by: `status --check` said healthy with reservations expired an hour ago):
# schedule() refuses them.
ACCEPTED_UNREADABLE = ["* * * * * *", "0 0 31 2 *", "@reboot"]


def pg_cron_accepts(server: Any, expr: str) -> bool:
    with psycopg.connect(server.dsn_for(server.cron_database)) as c:
        try:
            c.execute("SELECT cron.schedule('pyrelease-syntax-probe', %s, 'SELECT 1')", (expr,))
        except psycopg.Error:
            return False
        finally:
            c.rollback()
    return True


def test_pg_cron_accepts_exactly_what_the_tests_say(server: Any) -> None:
    verdicts = {e: pg_cron_accepts(server, e) for e in ACCEPTED + REFUSED + ACCEPTED_UNREADABLE}
    wrong = {e: ok for e, ok in verdicts.items() if ok != (e not in REFUSED)}
    assert wrong == {}


@pytest.mark.parametrize("expr", ACCEPTED)
def test_every_schedule_pg_cron_accepts_has_a_computable_interval(expr: str) -> None:
    assert timedelta(0) < cron.interval(expr) <= timedelta(days=366)
    assert cron.next_run(expr, NOW) > NOW


@pytest.mark.parametrize("expr", ACCEPTED_UNREADABLE)
def test_schedule_refuses_what_status_cannot_read_and_changes_nothing(
    server: Any, conn: psycopg.Connection[Any], expr: str
) -> None:
    job = cron.schedule(conn, cron="0 0 1 1 *")
    try:
        with pytest.raises(InvalidArgument, match="cannot tell when it runs"):
            cron.schedule(conn, cron=expr)
        assert cron.job(conn) == job
    finally:
        cron.unschedule(conn)


@pytest.mark.parametrize("expr", ["² seconds", "99999999999999999999 seconds", "1/5 * * * *"])
def test_schedule_passes_pg_cron_s_refusal_on_in_one_line(
    conn: psycopg.Connection[Any], expr: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        cron.schedule(conn, cron=expr)
    assert str(info.value).startswith(f"invalid cron expression {expr!r}: invalid schedule")
    assert "\n" not in str(info.value)
    assert cron.job(conn) is None


def test_a_seconds_schedule_on_pg_cron_1_4_is_refused_saying_it_needs_1_5(
    capsys: pytest.CaptureFixture[str], server: Any, db: str, conn: psycopg.Connection[Any]
) -> None:
    """pg_cron 1.4 refused '10 seconds' with its bare "invalid schedule: 10 seconds"."""
    assert not pg_cron_accepts(server, "10 seconds")  # Debian's pg_cron 1.4.2
    with pytest.raises(InvalidArgument) as info:
        cron.schedule(conn, cron="10 seconds")
    assert str(info.value) == (
        "invalid cron expression '10 seconds': a schedule in seconds needs pg_cron 1.5 or"
        " later, this server has pg_cron 1.4-1"
    )
    code, out, err = run_main(capsys, "--dsn", db, "schedule", "--cron", "59 seconds")
    assert (code, out) == (1, "")
    assert err == (
        "pyrelease: error: invalid cron expression '59 seconds': a schedule in seconds needs"
        " pg_cron 1.5 or later, this server has pg_cron 1.4-1\n"
    )
    assert cron_jobs(server, current_db(conn)) == []
