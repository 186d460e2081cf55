"""How often pg_cron starts the job, as pyrelease computes it without a server (cronsim on
pg_cron 1.4's reading of a schedule): the interval the health rule allows two of, and the
next run `status --check` names while a new job waits for its first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pyrelease import InvalidArgument, cron

NOW = datetime(2026, 12, 2, 12, 7, 30, tzinfo=UTC)  # a Wednesday
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def at(hour: int, minute: int, day: int = 2, month: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "longest_gap"),
    [
        ("*/5 * * * *", 5 * MINUTE),
        ("* * * * *", MINUTE),
        ("0 3 * * *", DAY),
        ("0,30 * * * *", 30 * MINUTE),
        ("0,10 * * * *", 50 * MINUTE),  # uneven: the longest gap counts
        ("*/10 9-17 * * *", 15 * HOUR + 10 * MINUTE),  # 17:50 to 09:00 the next day
        ("0 0 * * 1-5", 3 * DAY),  # Friday to Monday
        ("0 0 * * sun", 7 * DAY),
        ("0 0 1 * *", 31 * DAY),
        ("0 0 1 jan *", 366 * DAY),  # across a leap year
        ("0 0 29 2 *", 2921 * DAY),  # 2096 to 2104: 2100 is no leap year
        ("0 0 31 * *", 61 * DAY),  # 31 July to 31 August is 31 days; May to July, 61
        # day of month and day of week both restricted: either matches (vixie cron, pg_cron)
        ("0 0 13 * 5", 7 * DAY),
        ("0 0 1 * 5", 7 * DAY),
        ("@hourly", HOUR),
        ("@daily", DAY),
        ("@midnight", DAY),
        ("@weekly", 7 * DAY),
        ("@monthly", 31 * DAY),
        ("@yearly", 366 * DAY),
        ("@annually", 366 * DAY),
        ("30 seconds", timedelta(seconds=30)),
        ("  */5   *  * * *  ", 5 * MINUTE),
    ],
)
def test_the_interval_is_the_longest_gap_between_two_runs(
    expr: str, longest_gap: timedelta
) -> None:
    assert cron.interval(expr) == longest_gap


@pytest.mark.parametrize(
    ("expr", "following"),
    [
        ("*/5 * * * *", at(12, 10)),
        ("*/10 13-17 * * *", at(13, 0)),
        ("0 0 1 jan *", at(0, 0, 1, 1, 2027)),
        ("@weekly", at(0, 0, day=6)),
        ("30 seconds", NOW + timedelta(seconds=30)),
    ],
)
def test_next_run(expr: str, following: datetime) -> None:
    assert cron.next_run(expr, NOW) == following


def test_times_are_utc_whatever_the_caller_s_zone() -> None:
    local = NOW.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert cron.next_run("0 3 * * *", local) == at(3, 0, day=3)


@pytest.mark.parametrize(
    "expr",
    [
        "@reboot",  # runs when the server starts: no interval to be late by
        "@restart",
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
def test_what_does_not_repeat_at_a_computable_interval_is_one_invalid_argument(expr: str) -> None:
    refused = r"^invalid cron expression .*cannot tell"
    for compute in (cron.check_readable, cron.interval):
        with pytest.raises(InvalidArgument, match=refused) as info:
            compute(expr)
        assert "\n" not in str(info.value)
