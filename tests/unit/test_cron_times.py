"""How often pg_cron starts the job, as pyrelease computes it without a server (cronsim on
pg_cron's reading of a schedule, in GMT or in pg_cron 1.5's cron.timezone): the interval the
health rule allows two of, and the next run `status --check` names while a new job waits for
its first."""

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
        ("0 0 $ * *", 31 * DAY),  # pg_cron 1.6: the last day of the month
        ("0 0 $ * 1", 7 * DAY),  # or Mondays
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


# pg_cron 1.5 and later read the fields in cron.timezone, matching each minute of real time
# there: a time the clocks skip never runs, a time they repeat runs twice (src/pg_cron.c,
# ShouldRunTask). Europe/Berlin: 02:00 -> 03:00 on the last Sunday of March, 03:00 -> 02:00 on
# the last Sunday of October. America/New_York: 02:00 -> 03:00, 02:00 -> 01:00.
@pytest.mark.parametrize(
    ("expr", "zone", "longest_gap"),
    [
        ("0 9 * * *", "Europe/Berlin", DAY + HOUR),  # across the night the clocks go back
        ("30 2 * * *", "Europe/Berlin", 2 * DAY - HOUR),  # the night they skip 02:30
        ("*/10 2 * * *", "Europe/Berlin", 2 * DAY - HOUR - 50 * MINUTE),  # 02:50 to 02:00
        ("0 * * * *", "Europe/Berlin", HOUR),  # real hours, whatever the clocks say
        ("* * * * *", "Europe/Berlin", MINUTE),
        ("30 1 * * *", "America/New_York", DAY),  # 01:30 runs twice in November: no longer gap
        ("0 0 1 * *", "Europe/Berlin", 31 * DAY + HOUR),  # 1 October to 1 November
        ("*/10 9-17 * * *", "Australia/Lord_Howe", 15 * HOUR + 40 * MINUTE),  # half-hour DST
        ("0 9 * * *", "europe/berlin", DAY + HOUR),  # PostgreSQL finds zones in any case
        ("0 9 * * *", "GMT", DAY),
        ("0 9 * * *", "UTC", DAY),
        ("0 9 * * *", "+02", DAY),  # a fixed offset: no clock changes
        ("0 9 * * *", "Asia/Tokyo", DAY),
        ("10 seconds", "Europe/Berlin", timedelta(seconds=10)),  # a period, in any zone
    ],
)
def test_in_a_zone_the_interval_is_the_longest_gap_in_real_time(
    expr: str, zone: str, longest_gap: timedelta
) -> None:
    assert cron.interval(expr, zone) == longest_gap


@pytest.mark.parametrize(
    ("expr", "moment", "following"),
    [
        ("0 9 * * *", at(12, 7), at(8, 0, day=3)),  # 09:00 CET is 08:00 UTC
        ("0 9 * * *", at(12, 0, 1, 7), at(7, 0, 2, 7)),  # 09:00 CEST is 07:00 UTC
        ("30 2 * * *", at(12, 0, 28, 3), at(0, 30, 30, 3)),  # 29 March 02:30 never comes
        ("30 2 * * *", at(0, 10, 25, 10), at(0, 30, 25, 10)),  # 02:30 CEST ...
        ("30 2 * * *", at(0, 31, 25, 10), at(1, 30, 25, 10)),  # ... then 02:30 CET
    ],
)
def test_next_run_in_a_zone(expr: str, moment: datetime, following: datetime) -> None:
    assert cron.next_run(expr, moment, "Europe/Berlin") == following


def test_a_zone_python_does_not_know_is_one_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as info:
        cron.interval("0 9 * * *", "Mars/Olympus_Mons")
    assert str(info.value) == (
        "pg_cron reads schedules in cron.timezone 'Mars/Olympus_Mons', a zone this Python does"
        " not know (install the tzdata package, or set cron.timezone to a zone name or GMT)"
    )
