"""When pg_cron starts the job, as `status --check` computes it (cronsim on pg_cron 1.4's
reading of a schedule), without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pyrelease import InvalidArgument, cron

NOW = datetime(2026, 12, 2, 12, 7, 30, tzinfo=UTC)  # a Wednesday


def at(hour: int, minute: int, day: int = 2, month: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "previous", "following"),
    [
        ("*/5 * * * *", [at(12, 5), at(12, 0)], at(12, 10)),
        ("* * * * *", [at(12, 7), at(12, 6)], at(12, 8)),
        ("0 3 * * *", [at(3, 0), at(3, 0, day=1)], at(3, 0, day=3)),
        ("0,30 * * * *", [at(12, 0), at(11, 30)], at(12, 30)),
        ("*/10 9-17 * * *", [at(12, 0), at(11, 50)], at(12, 10)),
        ("*/10 13-17 * * *", [at(17, 50, day=1), at(17, 40, day=1)], at(13, 0)),
        ("0 0 * * 1-5", [at(0, 0), at(0, 0, day=1)], at(0, 0, day=3)),
        ("0 0 * * sun", [at(0, 0, day=29, month=11), at(0, 0, day=22, month=11)], at(0, 0, day=6)),
        ("0 0 * * 7", [at(0, 0, day=29, month=11), at(0, 0, day=22, month=11)], at(0, 0, day=6)),
        ("0 0 1 * *", [at(0, 0, day=1), at(0, 0, day=1, month=11)], at(0, 0, 1, 1, 2027)),
        ("0 0 1 jan *", [at(0, 0, 1, 1), at(0, 0, 1, 1, 2025)], at(0, 0, 1, 1, 2027)),
        # day of month and day of week both restricted: either matches (vixie cron, pg_cron)
        ("0 0 1 * 5", [at(0, 0, day=1), at(0, 0, day=27, month=11)], at(0, 0, day=4)),
        ("@hourly", [at(12, 0), at(11, 0)], at(13, 0)),
        ("@daily", [at(0, 0), at(0, 0, day=1)], at(0, 0, day=3)),
        ("@midnight", [at(0, 0), at(0, 0, day=1)], at(0, 0, day=3)),
        ("@weekly", [at(0, 0, day=29, month=11), at(0, 0, day=22, month=11)], at(0, 0, day=6)),
        ("@monthly", [at(0, 0, day=1), at(0, 0, day=1, month=11)], at(0, 0, 1, 1, 2027)),
        ("@yearly", [at(0, 0, 1, 1), at(0, 0, 1, 1, 2025)], at(0, 0, 1, 1, 2027)),
        ("@annually", [at(0, 0, 1, 1), at(0, 0, 1, 1, 2025)], at(0, 0, 1, 1, 2027)),
        ("30 seconds", [NOW - timedelta(seconds=30), NOW - timedelta(seconds=60)], None),
        ("  */5   *  * * *  ", [at(12, 5), at(12, 0)], at(12, 10)),
    ],
)
def test_previous_and_next_runs(
    expr: str, previous: list[datetime], following: datetime | None
) -> None:
    assert cron.previous_runs(expr, NOW, 2) == previous
    expected = following if following is not None else NOW + timedelta(seconds=30)
    assert cron.next_run(expr, NOW) == expected


def test_times_are_utc_whatever_the_caller_s_zone() -> None:
    local = NOW.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert cron.previous_runs("0 3 * * *", local, 1) == [at(3, 0)]


def test_reboot_has_no_regular_runs() -> None:
    assert cron.previous_runs("@reboot", NOW) == []
    assert cron.next_run("@reboot", NOW) is None


@pytest.mark.parametrize(
    "expr",
    [
        "* * * * * *",  # pg_cron 1.4 ignores a 6th field; cronsim would read seconds
        "* * * *",
        "every day",
        "² seconds",
        "99999999999999999999 seconds",
        "0 seconds",
        "60 seconds",
        "0 0 31 2 *",  # never runs
        "61 * * * *",
        "",
    ],
)
def test_what_cannot_be_read_is_one_invalid_argument(expr: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid cron expression .*cannot tell") as info:
        cron.check_readable(expr)
    assert "\n" not in str(info.value)
