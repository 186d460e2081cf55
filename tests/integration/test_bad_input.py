"""Bad input, table-driven, over every CLI command, SQL function and Python wrapper.

NULLs, wrong types, malformed UUIDs, zero/negative/huge batch sizes and TTLs, SQL-injection
strings, invalid cron expressions and retentions, unusable connection strings, a database
that was never migrated, and a server without pg_cron. For each case:

* SQL: a clear error with the package's SQLSTATE (RE0xx) or PostgreSQL's own (22P02, ...);
* Python: the package's exception type;
* CLI: exit 1 with exactly one line on stderr (`pyrelease: error: ...`), or exit 2 with
  argparse's usage and one error line; never a traceback;
* and nothing changes: every table of the database (row count + md5 of its rows) and its
  pg_cron jobs are the same before and after.

The number of cases tried is printed at the end of the module ("N bad inputs tried").
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from factories import (
    closed_port,
    make_project,
    make_properties,
    make_workspace,
    run_main,
    scalar,
)
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import pyrelease
from pyrelease import (
    DatabaseUnavailable,
    InvalidArgument,
    MigrationError,
    PropertyNotFound,
    PropertyReserved,
    PropertySold,
    PyreleaseError,
    ScheduleError,
    WorkspaceNotActive,
    aio,
    cron,
)

Conn = psycopg.Connection[Any]

INJECTIONS = ["'; DROP TABLE real_estate.property; --", "x' OR '1'='1"]
BAD_UUIDS = ["not-a-uuid", "", "00000000-0000-0000-0000-00000000000g", "1234", *INJECTIONS]
BAD_CRONS = [
    "every day",
    "* * * *",
    "61 * * * *",
    "*/0 * * * *",
    "'; DROP TABLE x; --",
    "",
    "0-60 * * * *",
    "* * * * 8",
    "1/5 * * * *",
]
BAD_RETENTIONS = [
    "-1 day",
    "0",
    "abc",
    "",
    "-1 hour",
    "1 mon -31 days",
    "1 day'; DROP TABLE x; --",
    "12 hours",  # under 1 day
    "23:59:59",
]
ERROR_LINE = re.compile(r"^pyrelease: error: \S")
USAGE_LINE = re.compile(r"^pyrelease(?: [a-z]+)?: error: \S")
NEVER_SOON = "0 0 1 1 *"  # a schedule that does not fire while the tests run
PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))

TRIED: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _count_cases(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print how many bad inputs the module tried (quoted by the README)."""
    yield
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\ntest_bad_input: {len(TRIED)} bad inputs tried")


# --------------------------------------------------------------------------- helpers


@dataclass
class Target:
    """A migrated database with data and a (never firing) release job, shared by the module:
    every case must leave it exactly as it was."""

    dsn: str
    name: str
    conn: Conn  # superuser, autocommit
    cron: Conn | None  # superuser, autocommit, pg_cron's database
    ids: dict[str, uuid.UUID]

    def lit(self, value: Any) -> str:
        """`value` as an SQL literal: NULL, a number, or a quoted (untyped) string."""
        if value is None:
            return "NULL"
        return sql.Literal(value).as_string(self.conn)

    def snapshot(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for schema, table in self.conn.execute(
            "SELECT schemaname::text, tablename::text FROM pg_catalog.pg_tables"
            " WHERE schemaname IN ('real_estate', 'public') ORDER BY 1, 2"
        ).fetchall():
            row = self.conn.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text),"
                    " '')) FROM {}.{} AS t"
                ).format(sql.Identifier(schema), sql.Identifier(table))
            ).fetchone()
            state[f"{schema}.{table}"] = row
        state["routines"] = self.conn.execute(
            "SELECT p.proname::text, md5(p.prosrc) FROM pg_catalog.pg_proc AS p"
            " JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'real_estate' ORDER BY 1"
        ).fetchall()
        if self.cron is not None:
            state["cron.job"] = self.cron.execute(
                "SELECT jobid, jobname::text, schedule, command, database, username::text, active"
                " FROM cron.job WHERE database = %s OR jobname::text LIKE %s ORDER BY jobid",
                (self.name, f"%:{self.name}"),
            ).fetchall()
        return state

    @contextmanager
    def unchanged(self, case: str) -> Iterator[None]:
        TRIED.append(case)
        before = self.snapshot()
        yield
        assert self.snapshot() == before, f"{case}: the database changed"


def _create_db(server: Any, name: str) -> None:
    with psycopg.connect(server.admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_db(server: Any, name: str) -> None:
    with psycopg.connect(server.admin_dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _drop_jobs(server: Any, name: str) -> None:
    cron_db = getattr(server, "cron_database", "postgres")
    with psycopg.connect(server.dsn_for(cron_db), autocommit=True) as c:
        if scalar(c, "SELECT to_regclass('cron.job') IS NOT NULL"):
            c.execute(
                "SELECT cron.unschedule(jobid) FROM cron.job"
                " WHERE (database = %s AND database <> %s) OR jobname::text LIKE %s",
                (name, cron_db, f"%:{name}"),
            )


@pytest.fixture(scope="module")
def target(server: Any) -> Iterator[Target]:
    name = f"scratch_sec_bad_{secrets.token_hex(4)}"
    _create_db(server, name)
    dsn = server.dsn_for(name)
    cron_conn = None
    try:
        pyrelease.migrate(dsn)
        conn = psycopg.connect(dsn, autocommit=True)
        cron_db = scalar(conn, "SELECT current_setting('cron.database_name', true)")
        if cron.cron_setup(conn) is not None:
            cron.schedule(conn, cron=NEVER_SOON)
            cron_conn = psycopg.connect(server.dsn_for(cron_db), autocommit=True)
        ws = make_workspace(conn)
        project = make_project(conn, ws)
        [avail] = make_properties(conn, ws, project, 1)
        [logged, expired] = make_properties(conn, ws, project, 2, "RESERVED", expired=True)
        [live] = make_properties(conn, ws, project, 1, "RESERVED", expired=False)
        [sold] = make_properties(conn, ws, project, 1, "SOLD")
        inactive_ws = make_workspace(conn, "INACTIVE")
        [inactive] = make_properties(conn, inactive_ws, None, 1)
        make_properties(conn, inactive_ws, None, 1, "RESERVED", expired=True)
        conn.execute("SELECT real_estate.release_reservation(%s)", (logged,))  # log rows
        # `expired` stays expired and unreleased: a bad input that slips through and
        # releases anything changes the snapshot.
        ids = {
            "avail": avail,
            "expired": expired,
            "live": live,
            "sold": sold,
            "inactive": inactive,
            "unknown": uuid.uuid4(),
            "buyer": uuid.uuid4(),
        }
        yield Target(dsn=dsn, name=name, conn=conn, cron=cron_conn, ids=ids)
        conn.close()
    finally:
        if cron_conn is not None:
            cron_conn.close()
        _drop_jobs(server, name)
        _drop_db(server, name)


@pytest.fixture(scope="module")
def unmigrated(server: Any) -> Iterator[Target]:
    """A database that was never migrated (a wrong --dsn)."""
    name = f"scratch_sec_empty_{secrets.token_hex(4)}"
    _create_db(server, name)
    conn = psycopg.connect(server.dsn_for(name), autocommit=True)
    try:
        yield Target(dsn=server.dsn_for(name), name=name, conn=conn, cron=None, ids={})
    finally:
        conn.close()
        _drop_jobs(server, name)
        _drop_db(server, name)


def assert_error_line(code: int, out: str, err: str) -> str:
    """An operational error: exit 1, exactly one line on stderr, nothing on stdout."""
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert code == 1, (code, out, err)
    assert len(lines) == 1 and ERROR_LINE.match(lines[0]), err
    assert out == ""
    return lines[0]


def assert_usage_error(code: int, out: str, err: str) -> str:
    """A usage error: exit 2, argparse's usage then exactly one error line."""
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert code == 2, (code, out, err)
    assert lines and lines[0].startswith("usage: pyrelease"), err
    assert USAGE_LINE.match(lines[-1]), err
    assert sum(": error: " in line for line in lines) == 1, err
    assert out == ""
    return lines[-1]


# --------------------------------------------------------------------------- SQL functions

AVAIL, LIVE, SOLD, INACTIVE, UNKNOWN, BUYER = (
    "{avail}",
    "{live}",
    "{sold}",
    "{inactive}",
    "{unknown}",
    "{buyer}",
)


def _reserve(pid: str, buyer: str = BUYER, ttl: str = "'1 hour'") -> str:
    return f"SELECT real_estate.reserve_property({pid}, {buyer}, {ttl})"


SQL_CASES: list[tuple[str, str]] = [
    # reserve_property: ids
    (_reserve("NULL"), "RE010"),
    (_reserve(AVAIL, "NULL"), "RE010"),
    (_reserve("NULL", "NULL", "NULL"), "RE010"),
    *((_reserve(f"<{v}>"), "22P02") for v in BAD_UUIDS),
    *((_reserve(AVAIL, f"<{v}>"), "22P02") for v in BAD_UUIDS[:1] + INJECTIONS),
    (_reserve("123"), "42883"),
    (_reserve("true"), "42883"),
    (_reserve(AVAIL, "42"), "42883"),
    (f"SELECT real_estate.reserve_property({AVAIL})", "42883"),
    (_reserve(UNKNOWN), "RE001"),
    (_reserve(SOLD), "RE002"),
    (_reserve(LIVE), "RE003"),
    (_reserve(INACTIVE), "RE004"),
    # reserve_property: ttl
    (_reserve(AVAIL, BUYER, "NULL"), "RE010"),
    (_reserve(AVAIL, BUYER, "'0'"), "RE010"),
    (_reserve(AVAIL, BUYER, "'0 seconds'"), "RE010"),
    (_reserve(AVAIL, BUYER, "'-1 hour'"), "RE010"),
    (_reserve(AVAIL, BUYER, "'1 day -25 hours'"), "RE010"),
    (_reserve(AVAIL, BUYER, "'1000000 years'"), "22008"),
    (_reserve(AVAIL, BUYER, "'200000 years'"), "RE010"),  # past the maximum (pyrelease.max_ttl)
    (_reserve(AVAIL, BUYER, "'1 year 1 day'"), "RE010"),
    (_reserve(AVAIL, BUYER, "'abc'"), "22007"),
    (_reserve(AVAIL, BUYER, "''"), "22007"),
    (_reserve(AVAIL, BUYER, "<1 hour'; DROP TABLE real_estate.property; -->"), "22007"),
    (_reserve(AVAIL, BUYER, "5"), "42883"),
    # release_reservation
    *((f"SELECT real_estate.release_reservation(<{v}>)", "22P02") for v in BAD_UUIDS),
    ("SELECT real_estate.release_reservation(123)", "42883"),
    (f"SELECT real_estate.release_reservation({AVAIL}, {AVAIL})", "42883"),
    # release_expired_reservations
    *(
        (f"SELECT real_estate.release_expired_reservations({v})", state)
        for v, state in [
            ("NULL", "RE010"),
            ("0", "RE010"),
            ("-1", "RE010"),
            ("-2147483648", "RE010"),
            ("'2147483648'", "22003"),
            ("'1000000000000'", "22003"),
            ("2147483648", "42883"),
            ("1000000000000", "42883"),
            ("1.5", "42883"),
            ("'abc'", "22P02"),
            ("''", "22P02"),
            ("'1; DROP TABLE real_estate.property'", "22P02"),
        ]
    ),
    # run_release_job (CALL: it commits, and must not even start on bad arguments)
    *(
        (f"CALL real_estate.run_release_job({v})", state)
        for v, state in [
            ("NULL", "RE010"),
            ("0", "RE010"),
            ("-1", "RE010"),
            ("'2147483648'", "22003"),
            ("'abc'", "22P02"),
            ("1000, NULL", "RE010"),
            ("1000, '-1 day'", "RE010"),
            ("1000, '0'", "RE010"),
            ("1000, '1 mon -31 days'", "RE010"),
            ("1000, 'abc'", "22007"),
            ("1000, ''", "22007"),
            ("1000, '30 days''; DROP TABLE real_estate.property; --'", "22007"),
            ("p_retention => '-1 day'", "RE010"),
            ("1000, '23 hours 59 minutes'", "RE010"),  # under 1 day
            ("p_retention => '1 hour'", "RE010"),
            ("p_batch_size => 0", "RE010"),
            ("NULL, '1000000 years'", "RE010"),
        ]
    ),
    # check_invariants takes no argument
    ("SELECT * FROM real_estate.check_invariants(1)", "42883"),
    # the internals (granted to no one; superuser here): PostgreSQL's own errors
    ("SELECT real_estate.begin_release_run(NULL)", "23502"),
    ("SELECT real_estate.begin_release_run('evil')", "23514"),
    ("SELECT real_estate.begin_release_run(<'; DROP TABLE real_estate.property; -->)", "23514"),
    (
        "SELECT * FROM real_estate.release_batch('call', NULL, '{{not-a-tid}}', NULL, NULL, NULL)",
        "22P02",
    ),
    ("SELECT * FROM real_estate.release_pick('not a time')", "22007"),
    ("SELECT real_estate.release_rows(1, 'expired', <not-a-uuid>, '{{}}')", "22P02"),
    # purge_release_log (internal; superuser here)
    *(
        (f"SELECT real_estate.purge_release_log({v})", state)
        for v, state in [
            ("NULL", "RE010"),
            ("'-1 day'", "RE010"),
            ("'0'", "RE010"),
            ("'12 hours'", "RE010"),
            ("'1 day -1 second'", "RE010"),
            ("'abc'", "22007"),
            ("'1000000 years'", "22008"),
        ]
    ),
]


def render(target: Target, template: str) -> str:
    """Fill {name} with a quoted id and <text> with a quoted literal of text."""
    query = re.sub(r"<(.*?)>(?=[,)])", lambda m: target.lit(m.group(1)), template)
    return query.format(**{k: target.lit(str(v)) for k, v in target.ids.items()})


@pytest.mark.parametrize(("template", "expected"), SQL_CASES, ids=[c[0] for c in SQL_CASES])
def test_sql_functions_reject_bad_input(target: Target, template: str, expected: str) -> None:
    query = render(target, template)
    with target.unchanged(query):
        with pytest.raises(psycopg.Error) as raised:
            target.conn.execute(query)
        assert raised.value.sqlstate == expected, (query, raised.value)
        assert str(raised.value).strip(), query


def test_sql_unknown_or_unreleasable_ids_are_not_errors(target: Target) -> None:
    """A well-formed id that cannot be released is `false`, and changes nothing."""
    for name in ("unknown", "avail", "live", "sold", "inactive"):
        with target.unchanged(f"release_reservation({name})"):
            query = render(target, f"SELECT real_estate.release_reservation({{{name}}})")
            assert scalar(target.conn, query) is False


def test_sql_release_reservation_null_is_an_error(target: Target) -> None:
    with target.unchanged("release_reservation(NULL)"):
        with pytest.raises(psycopg.Error) as raised:
            target.conn.execute("SELECT real_estate.release_reservation(NULL)")
        assert raised.value.sqlstate == "RE010"


def test_sql_reserve_with_a_ttl_that_ends_in_the_past_is_refused(conn: Conn) -> None:
    """Positive as an interval (a month counts 30 days) yet ending in the past: now - 5 days."""
    TRIED.append("reserve_property ttl '-1 year 360 days 1 hour'")
    ws = make_workspace(conn)
    [target] = make_properties(conn, ws, make_project(conn, ws), 1)
    with pytest.raises(psycopg.Error) as raised:
        until = scalar(
            conn,
            "SELECT real_estate.reserve_property(%s, gen_random_uuid(), '-1 year 360 days 1 hour')",
            (target,),
        )
        assert until > scalar(conn, "SELECT now()"), f"reserved until {until}: already expired"
    assert raised.value.sqlstate == "RE010"


def test_sql_run_release_job_with_an_out_of_range_retention_starts_nothing(conn: Conn) -> None:
    """now() - p_retention out of range must be refused before the run starts (it commits
    per batch), not in the purge at its end."""
    TRIED.append("run_release_job(p_retention => '1000000 years')")
    ws = make_workspace(conn)
    make_properties(conn, ws, make_project(conn, ws), 2, "RESERVED", expired=True)
    with pytest.raises(psycopg.Error) as raised:
        conn.execute("CALL real_estate.run_release_job(p_retention => '1000000 years')")
    try:
        assert raised.value.sqlstate in ("RE010", "22008")
    finally:
        runs = conn.execute("SELECT source, finished_at FROM real_estate.release_run").fetchall()
        released = scalar(conn, "SELECT count(*) FROM real_estate.release_event")
        assert (runs, released) == ([], 0), "a refused run must not release or log anything"


# --------------------------------------------------------------------------- Python wrappers

PyCase = tuple[str, Callable[[Target], Any], type[BaseException]]


def _reserve_call(pid: Any = None, buyer: Any = None, ttl: Any = timedelta(hours=1)) -> Any:
    def call(t: Target) -> Any:
        return pyrelease.reserve(
            t.conn,
            t.ids["avail"] if pid is None else t.ids.get(pid, pid),
            t.ids["buyer"] if buyer is None else buyer,
            ttl=ttl,
        )

    return call


class _Null:
    """Stands for None in a case table (None itself means "the default" there)."""

    def __repr__(self) -> str:
        return "None"


_NONE = _Null()


def _none(v: Any) -> Any:
    return None if v is _NONE else v


PY_CASES: list[PyCase] = [
    *(
        (f"reserve(property_id={v!r})", _reserve_call(pid=v), InvalidArgument)
        for v in [*BAD_UUIDS, 123, 1.5, b"\x01"]
    ),
    (
        "reserve(property_id=None)",
        lambda t: pyrelease.reserve(t.conn, None, t.ids["buyer"]),
        InvalidArgument,
    ),
    (
        "reserve(reserved_by_id=None)",
        lambda t: pyrelease.reserve(t.conn, t.ids["avail"], None),
        InvalidArgument,
    ),
    *(
        (f"reserve(reserved_by_id={v!r})", _reserve_call(buyer=v), InvalidArgument)
        for v in ["abc", *INJECTIONS]
    ),
    ("reserve(unknown)", _reserve_call(pid="unknown"), PropertyNotFound),
    ("reserve(sold)", _reserve_call(pid="sold"), PropertySold),
    ("reserve(live)", _reserve_call(pid="live"), PropertyReserved),
    ("reserve(inactive)", _reserve_call(pid="inactive"), WorkspaceNotActive),
    *(
        (f"reserve(ttl={v!r})", _reserve_call(ttl=v), InvalidArgument)
        for v in [
            None,
            timedelta(0),
            timedelta(hours=-1),
            timedelta(days=999_999_999),
            timedelta(days=367),  # past the maximum (pyrelease.max_ttl, 1 year)
            "0",
            "-1 hour",
            "1000000 years",
            "abc",
            "",
        ]
    ),
    *(
        (
            f"release_reservation({v!r})",
            lambda t, v=v: pyrelease.release_reservation(t.conn, _none(v)),
            InvalidArgument,
        )
        for v in [_NONE, *BAD_UUIDS, 123]
    ),
    *(
        (
            f"release_expired(batch_size={v!r})",
            lambda t, v=v: pyrelease.release_expired(t.conn, _none(v)),
            InvalidArgument,
        )
        for v in [_NONE, 0, -1, -(2**31), 2**31, 10**12, "abc", "", "0", INJECTIONS[0]]
    ),
    *(
        (
            f"cron.schedule(cron={v!r})",
            lambda t, v=v: cron.schedule(t.conn, _none(v)),
            InvalidArgument,
        )
        for v in BAD_CRONS
    ),
    *(
        (
            f"cron.schedule(retention={v!r})",
            lambda t, v=v: cron.schedule(t.conn, NEVER_SOON, _none(v)),
            InvalidArgument,
        )
        for v in [*BAD_RETENTIONS, _NONE]
    ),
    (
        "pyrelease.schedule(cron='every day')",
        lambda t: pyrelease.schedule(t.dsn, cron="every day"),
        InvalidArgument,
    ),
    (
        "pyrelease.schedule(retention='abc')",
        lambda t: pyrelease.schedule(t.dsn, retention="abc"),
        InvalidArgument,
    ),
    *(
        (
            f"rollback(steps={v!r})",
            lambda t, v=v: pyrelease.rollback(t.dsn, _none(v)),
            MigrationError,
        )
        for v in [0, -1, "abc", True, _NONE, 1.5, "1", "ALL"]
    ),
]


@pytest.mark.parametrize(("case", "call", "expected"), PY_CASES, ids=[c[0] for c in PY_CASES])
def test_python_wrappers_raise_the_package_types(
    target: Target, case: str, call: Callable[[Target], Any], expected: type[BaseException]
) -> None:
    with target.unchanged(case), pytest.raises(expected) as raised:
        call(target)
    assert isinstance(raised.value, PyreleaseError)
    assert str(raised.value).strip() and "\n" not in str(raised.value)


WRONG_TYPES: list[PyCase] = [
    ("reserve(ttl=5)", _reserve_call(ttl=5), InvalidArgument),
    ("reserve(ttl=1.5)", _reserve_call(ttl=1.5), InvalidArgument),
    ("reserve(property_id='a\\x00b')", _reserve_call(pid="a\x00b"), InvalidArgument),
    (
        "release_reservation('\\x00')",
        lambda t: pyrelease.release_reservation(t.conn, "\x00"),
        InvalidArgument,
    ),
    (
        "cron.schedule(retention=5)",
        lambda t: cron.schedule(t.conn, NEVER_SOON, 5),  # type: ignore[arg-type]
        InvalidArgument,
    ),
    ("cron.schedule(cron=5)", lambda t: cron.schedule(t.conn, 5), InvalidArgument),  # type: ignore[arg-type]
    ("cron.schedule(cron=None)", lambda t: cron.schedule(t.conn, None), InvalidArgument),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("case", "call", "expected"), WRONG_TYPES, ids=[c[0] for c in WRONG_TYPES])
def test_python_wrappers_wrong_types_raise_invalid_argument(
    target: Target, case: str, call: Callable[[Target], Any], expected: type[BaseException]
) -> None:
    with target.unchanged(case):
        try:
            call(target)
        except expected:
            return
        except Exception as exc:
            pytest.fail(f"{case}: {type(exc).__module__}.{type(exc).__name__}: {exc}")
        pytest.fail(f"{case}: accepted")


# Every wrapper that takes an id, with None for one of them: (name, call(module, conn, ids)).
NONE_IDS: list[tuple[str, Callable[[Any, Any, dict[str, uuid.UUID]], Any]]] = [
    ("reserve(None, buyer)", lambda m, c, i: m.reserve(c, None, i["buyer"])),
    ("reserve(avail, None)", lambda m, c, i: m.reserve(c, i["avail"], None)),
    ("extend(None, buyer)", lambda m, c, i: m.extend(c, None, i["buyer"])),
    ("extend(live, None)", lambda m, c, i: m.extend(c, i["live"], None)),
    ("sell(None, buyer)", lambda m, c, i: m.sell(c, None, i["buyer"])),
    ("sell(live, None)", lambda m, c, i: m.sell(c, i["live"], None)),
    ("cancel(None, buyer)", lambda m, c, i: m.cancel(c, None, i["buyer"])),
    ("cancel(live, None)", lambda m, c, i: m.cancel(c, i["live"], None)),
    ("release_reservation(None)", lambda m, c, i: m.release_reservation(c, None)),
]


@pytest.mark.parametrize(("case", "call"), NONE_IDS, ids=[c[0] for c in NONE_IDS])
def test_none_as_an_id_is_null_refused_as_re010(
    target: Target, case: str, call: Callable[[Any, Any, dict[str, uuid.UUID]], Any]
) -> None:
    """None reached the database as the text "None" (22P02 'invalid input syntax for type
    uuid: "None"'); it is NULL, which the routines refuse in one clear line (RE010)."""
    with target.unchanged(case), pytest.raises(InvalidArgument) as raised:
        call(pyrelease, target.conn, target.ids)
    assert raised.value.sqlstate == "RE010", raised.value
    assert "must not be NULL" in str(raised.value)


async def test_async_none_as_an_id_is_null_refused_as_re010(target: Target) -> None:
    async with await psycopg.AsyncConnection.connect(target.dsn, autocommit=True) as aconn:
        for case, call in NONE_IDS:
            with target.unchanged(f"aio.{case}"), pytest.raises(InvalidArgument) as raised:
                await call(aio, aconn, target.ids)
            assert raised.value.sqlstate == "RE010", (case, raised.value)


async def test_async_wrappers_raise_the_package_types(target: Target) -> None:
    buyer, avail, sold = target.ids["buyer"], target.ids["avail"], target.ids["sold"]
    async with await psycopg.AsyncConnection.connect(target.dsn, autocommit=True) as aconn:
        cases: list[tuple[str, Callable[[], Any], type[BaseException]]] = [
            ("aio.reserve('abc')", lambda: aio.reserve(aconn, "abc", buyer), InvalidArgument),
            (
                "aio.reserve(ttl=0)",
                lambda: aio.reserve(aconn, avail, buyer, ttl=timedelta(0)),
                InvalidArgument,
            ),
            ("aio.reserve(sold)", lambda: aio.reserve(aconn, sold, buyer), PropertySold),
            (
                "aio.release_reservation(injection)",
                lambda: aio.release_reservation(aconn, INJECTIONS[0]),
                InvalidArgument,
            ),
            ("aio.release_expired(0)", lambda: aio.release_expired(aconn, 0), InvalidArgument),
            (
                "aio.release_expired(2**31)",
                lambda: aio.release_expired(aconn, 2**31),
                InvalidArgument,
            ),
        ]
        for case, call, expected in cases:
            with target.unchanged(case), pytest.raises(expected):
                await call()


# --------------------------------------------------------------------------- connection strings


def bad_dsns(target: Target) -> dict[str, str]:
    return {
        "closed port": f"postgresql://postgres@127.0.0.1:{closed_port()}/postgres",
        "missing database": make_conninfo(target.dsn, dbname=f"scratch_sec_nope_{os.getpid()}"),
        "unknown role": make_conninfo(target.dsn, user=f"sec_nobody_{secrets.token_hex(4)}"),
        "malformed": "===",
        "unknown option": "host=127.0.0.1 nosuchoption=1",
        "bad sslmode": make_conninfo(target.dsn, sslmode="bogus"),
        "injection": "host=127.0.0.1 dbname=x'; DROP DATABASE postgres; --",
    }


DSN_KINDS = [
    "closed port",
    "missing database",
    "unknown role",
    "malformed",
    "unknown option",
    "bad sslmode",
    "injection",
]
COMMANDS = [
    ["migrate"],
    ["migrate", "--break-lock"],
    ["rollback"],
    ["rollback", "--all"],
    ["release"],
    ["release", "--property-id", str(uuid.UUID(int=1))],
    ["status"],
    ["status", "--check"],
    ["schedule"],
    ["unschedule"],
]


@pytest.mark.parametrize("kind", DSN_KINDS)
def test_cli_unusable_dsn_is_one_line_for_every_command(
    capsys: pytest.CaptureFixture[str], target: Target, kind: str
) -> None:
    dsn = bad_dsns(target)[kind]
    for command in COMMANDS:
        with target.unchanged(f"--dsn <{kind}> {' '.join(command)}"):
            assert_error_line(*run_main(capsys, "--dsn", dsn, *command))


@pytest.mark.parametrize("kind", DSN_KINDS[:3])
def test_python_unusable_dsn_is_database_unavailable(target: Target, kind: str) -> None:
    dsn = bad_dsns(target)[kind]
    for name, call in [
        ("migrate", lambda: pyrelease.migrate(dsn)),
        ("rollback", lambda: pyrelease.rollback(dsn)),
        ("schedule", lambda: pyrelease.schedule(dsn)),
        ("unschedule", lambda: pyrelease.unschedule(dsn)),
    ]:
        with target.unchanged(f"pyrelease.{name}(<{kind}>)"), pytest.raises(DatabaseUnavailable):
            call()


@pytest.mark.parametrize("variable", ["DATABASE_URL", "PGPORT"])
def test_cli_unusable_dsn_from_the_environment(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    target: Target,
    variable: str,
) -> None:
    port = closed_port()
    monkeypatch.delenv("DATABASE_URL", raising=False)
    if variable == "DATABASE_URL":
        monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{port}/x")
    else:
        monkeypatch.setenv("PGHOST", "127.0.0.1")
        monkeypatch.setenv("PGPORT", str(port))
    for command in (["release"], ["status"], ["schedule"]):
        with target.unchanged(f"{variable}=<closed port> {' '.join(command)}"):
            assert_error_line(*run_main(capsys, *command))


# --------------------------------------------------------------------------- CLI arguments

USAGE_CASES: list[list[str]] = [
    [],
    ["nope"],
    ["release", "--batch-size"],
    *(
        ["release", "--batch-size", v]
        for v in ["0", "-1", "2147483648", "1000000000000", "abc", "", "1.5", "NULL", "1e3"]
    ),
    *(["release", "--property-id", v] for v in [*BAD_UUIDS, "NULL"]),
    ["release", "--steps", "1"],
    ["release", "extra"],
    *(["rollback", "--steps", v] for v in ["0", "-1", "abc", "2147483648", "1000000000000"]),
    ["rollback", "--steps", "2", "--all"],
    ["rollback", "--all", "--steps", "3"],
    ["schedule", "--cron"],
    ["schedule", "--retention"],
    ["status", "--check", "now"],
    ["migrate", "--break-lock=yes"],
    ["unschedule", "--all"],
]


@pytest.mark.parametrize("args", USAGE_CASES, ids=lambda a: " ".join(a) or "no command")
def test_cli_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], target: Target, args: list[str]
) -> None:
    with target.unchanged(" ".join(args) or "no command"):
        assert_usage_error(*run_main(capsys, "--dsn", target.dsn, *args))


def test_cli_rollback_steps_1_with_all_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], target: Target
) -> None:
    # argparse sees no conflict when a value equals the option's default; with a default of
    # 1 this rolled back EVERY migration. A closed port, so that a regression rolls back
    # nothing here.
    dsn = bad_dsns(target)["closed port"]
    for args in (["--steps", "1", "--all"], ["--all", "--steps", "1"]):
        with target.unchanged(f"rollback {' '.join(args)}"):
            assert_usage_error(*run_main(capsys, "--dsn", dsn, "rollback", *args))


@pytest.mark.parametrize("expr", BAD_CRONS)
def test_cli_invalid_cron_expression(
    capsys: pytest.CaptureFixture[str], target: Target, expr: str
) -> None:
    with target.unchanged(f"schedule --cron {expr!r}"):
        line = assert_error_line(*run_main(capsys, "--dsn", target.dsn, "schedule", "--cron", expr))
        assert line.startswith(f"pyrelease: error: invalid cron expression {expr!r}"), line


@pytest.mark.parametrize("retention", BAD_RETENTIONS)
def test_cli_invalid_retention(
    capsys: pytest.CaptureFixture[str], target: Target, retention: str
) -> None:
    with target.unchanged(f"schedule --retention {retention!r}"):
        line = assert_error_line(
            *run_main(capsys, "--dsn", target.dsn, "schedule", f"--retention={retention}")
        )
        assert "retention" in line, line


@pytest.mark.parametrize(
    "command",
    [
        ["release"],
        ["release", "--batch-size", "1"],
        ["release", "--property-id", str(uuid.UUID(int=1))],
        ["status"],
        ["status", "--check"],
    ],
)
def test_cli_on_a_database_that_was_never_migrated(
    capsys: pytest.CaptureFixture[str], unmigrated: Target, command: list[str]
) -> None:
    with unmigrated.unchanged(f"<unmigrated> {' '.join(command)}"):
        assert_error_line(*run_main(capsys, "--dsn", unmigrated.dsn, *command))


def test_cli_unknown_property_is_not_an_error(
    capsys: pytest.CaptureFixture[str], target: Target
) -> None:
    for name in ("unknown", "live", "sold"):
        pid = str(target.ids[name])
        with target.unchanged(f"release --property-id <{name}>"):
            code, out, err = run_main(capsys, "--dsn", target.dsn, "release", "--property-id", pid)
            assert (code, out, err) == (0, f"{pid}: nothing to release\n", "")


def _release_job(conn: Conn) -> cron.Job:
    if cron.cron_setup(conn) is None:
        pytest.skip("pg_cron is not available on the test server")
    return cron.schedule(conn, cron=NEVER_SOON)


def _job_rows(server: Any, job: cron.Job) -> list[tuple[Any, ...]]:
    with psycopg.connect(server.dsn_for(job.cron_database), autocommit=True) as c:
        return c.execute(
            "SELECT jobid, jobname::text, schedule, command, active FROM cron.job"
            " WHERE database = %s OR jobname::text LIKE %s ORDER BY jobid",
            (job.database, f"%:{job.database}"),
        ).fetchall()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--retention", "1000000 years"], id="out-of-range retention"),
        pytest.param(["--cron", "* * * * * *"], id="what status --check cannot read"),
    ],
)
def test_cli_schedule_refuses_before_touching_the_job(
    capsys: pytest.CaptureFixture[str], server: Any, db: str, conn: Conn, args: list[str]
) -> None:
    TRIED.append(f"schedule {args[0]} {args[1]!r}")
    job = _release_job(conn)
    try:
        before = _job_rows(server, job)
        code, out, err = run_main(capsys, "--dsn", db, "schedule", *args)
        assert _job_rows(server, job) == before
        assert_error_line(code, out, err)
    finally:
        cron.unschedule(conn)


def test_cli_schedule_refuses_a_database_that_was_never_migrated(
    capsys: pytest.CaptureFixture[str], server: Any, fresh_db: str
) -> None:
    TRIED.append("<unmigrated> schedule")
    with psycopg.connect(fresh_db, autocommit=True) as c:
        if cron.cron_setup(c) is None:
            pytest.skip("pg_cron is not available on the test server")
        try:
            code, out, err = run_main(capsys, "--dsn", fresh_db, "schedule", "--cron", NEVER_SOON)
            assert cron.job(c) is None, "a job was registered"
            assert_error_line(code, out, err)
        finally:
            cron.unschedule(c)


# --------------------------------------------------------------------------- subprocesses


def test_cli_in_a_subprocess_never_prints_a_traceback(target: Target) -> None:
    """The same failures from a real process: python -m pyrelease.cli."""
    port = closed_port()
    cases = [
        (2, ["--dsn", target.dsn, "release", "--batch-size", "0"]),
        (2, ["--dsn", target.dsn, "release", "--property-id", INJECTIONS[0]]),
        (1, ["--dsn", target.dsn, "schedule", "--cron", "'; DROP TABLE x; --"]),
        (1, ["--dsn", target.dsn, "schedule", "--retention", "abc"]),
        (1, ["--dsn", f"postgresql://postgres@127.0.0.1:{port}/postgres", "status"]),
        (1, ["--dsn", make_conninfo(target.dsn, dbname="scratch_sec_nope"), "migrate"]),
        (1, ["--dsn", "===", "release"]),
    ]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    before = target.snapshot()
    procs = [
        (
            code,
            args,
            subprocess.Popen(
                [sys.executable, "-m", "pyrelease.cli", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            ),
        )
        for code, args in cases
    ]
    for code, args, proc in procs:
        TRIED.append(f"subprocess {' '.join(args[2:])}")
        out, err = proc.communicate(timeout=60)
        check = assert_usage_error if code == 2 else assert_error_line
        check(proc.returncode, out, err)
    assert target.snapshot() == before


# --------------------------------------------------------------------------- without pg_cron


@dataclass
class NoCron:
    dsn: str
    migrate: subprocess.CompletedProcess[str]


def _as_postgres(args: list[str]) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(
        args, cwd="/", stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def no_cron() -> Iterator[NoCron]:
    """A throwaway cluster WITHOUT pg_cron in shared_preload_libraries, one database, and
    the output of `python -m pyrelease.cli migrate` against it."""
    if not (PG_BINDIR / "initdb").exists():
        pytest.skip(f"no PostgreSQL binaries in {PG_BINDIR}")
    base = Path(tempfile.mkdtemp(prefix="pyrelease-sec-nocron-"))
    base.chmod(0o777)
    data = base / "data"
    port = closed_port()
    try:
        done = _as_postgres(
            [
                str(PG_BINDIR / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                "--no-locale",
            ]
        )
        assert done.returncode == 0, done.stderr
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{base}'\nfsync = off\n"
                "shared_preload_libraries = ''\n"
            )
        done = _as_postgres(
            [
                str(PG_BINDIR / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(base / "log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        assert done.returncode == 0, done.stderr + (base / "log").read_text()
        admin = f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=10"
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute("CREATE DATABASE app")
        dsn = make_conninfo(admin, dbname="app")
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        migrate = subprocess.run(
            [sys.executable, "-m", "pyrelease.cli", "--dsn", dsn, "migrate"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        yield NoCron(dsn=dsn, migrate=migrate)
    finally:
        _as_postgres([str(PG_BINDIR / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(base, ignore_errors=True)


def test_without_pg_cron_migrate_works_with_one_warning_line(no_cron: NoCron) -> None:
    TRIED.append("<no pg_cron> migrate")
    done = no_cron.migrate
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("applied 0001.schema"), done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("pyrelease: "), lines[0]
    assert "no release schedule was created" in lines[0]
    assert "pyrelease schedule" in lines[0]
    with psycopg.connect(no_cron.dsn) as c:
        assert scalar(c, "SELECT to_regprocedure('real_estate.run_release_job(integer, interval)')")


def test_without_pg_cron_yoyo_apply_warns_with_the_same_line(no_cron: NoCron) -> None:
    """`yoyo apply` installs with migrate's strictness: the same one warning line (in yoyo's
    log format), and success."""
    TRIED.append("<no pg_cron> yoyo apply")
    params = conninfo_to_dict(no_cron.dsn)
    url = f"postgresql+psycopg://postgres@{params['host']}:{params['port']}/{params['dbname']}"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "yoyo", "apply", "--batch", "--no-config-file", "-v"),
            *("--database", url, pyrelease.migrations_dir()),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    [warning] = no_cron.migrate.stderr.splitlines()
    assert done.stderr.splitlines() == [f"WARNING:{warning.replace(': ', ':', 1)}"]


def nocron_target(no_cron: NoCron) -> Target:
    conn = psycopg.connect(no_cron.dsn, autocommit=True)
    return Target(dsn=no_cron.dsn, name="app", conn=conn, cron=None, ids={})


@pytest.mark.parametrize(
    "command",
    [
        ["schedule"],
        ["schedule", "--cron", "*/10 * * * *"],
        ["schedule", "--cron", "every day"],
        ["schedule", "--retention", "abc"],
        ["unschedule"],
        ["status", "--check"],
    ],
)
def test_without_pg_cron_schedule_fails_with_one_line(
    capsys: pytest.CaptureFixture[str], no_cron: NoCron, command: list[str]
) -> None:
    t = nocron_target(no_cron)
    with t.conn, t.unchanged(f"<no pg_cron> {' '.join(command)}"):
        code, out, err = run_main(capsys, "--dsn", no_cron.dsn, *command)
        if command[0] == "status":  # the report, then the verdict
            assert "schedule: none" in out
            line = assert_error_line(code, "", err)
            assert "no release job is scheduled (or pg_cron is missing)" in line, line
        else:
            line = assert_error_line(code, out, err)
            assert line.startswith("pyrelease: error: pg_cron is not available"), line


def test_without_pg_cron_python_raises_schedule_error(no_cron: NoCron) -> None:
    t = nocron_target(no_cron)
    with t.conn:
        for case, call in [
            ("pyrelease.schedule", lambda: pyrelease.schedule(no_cron.dsn)),
            ("pyrelease.unschedule", lambda: pyrelease.unschedule(no_cron.dsn)),
            ("cron.schedule('every day')", lambda: cron.schedule(t.conn, "every day")),
            ("cron.unschedule", lambda: cron.unschedule(t.conn)),
        ]:
            with t.unchanged(f"<no pg_cron> {case}"), pytest.raises(ScheduleError):
                call()
        # what does not need pg_cron still works
        assert cron.job(t.conn) is None
        assert pyrelease.release_expired(t.conn) == 0
