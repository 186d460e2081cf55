"""The Python wrappers (pyrelease and pyrelease.aio): types, values, errors, transactions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from factories import (
    Conn,
    assert_counters_exact,
    available_plots,
    make_project,
    make_properties,
    make_workspace,
    reservation,
    scalar,
)

import pyrelease
from pyrelease import aio
from pyrelease.errors import translated

Connect = Callable[..., Conn]
World = tuple[uuid.UUID, uuid.UUID]


@pytest.fixture
def world(conn: Conn) -> World:
    ws = make_workspace(conn)
    return ws, make_project(conn, ws)


# --------------------------------------------------------------------- sync: values and types


@pytest.mark.parametrize("id_type", [str, uuid.UUID])
def test_reserve_returns_reserved_until(
    connect: Connect, world: World, id_type: Callable[[Any], Any]
) -> None:
    conn = connect(autocommit=False)
    ws, project = world
    [target] = make_properties(conn, ws, project, 1)
    holder = uuid.uuid4()

    until = pyrelease.reserve(
        conn, id_type(str(target)), id_type(str(holder)), ttl=timedelta(minutes=30)
    )
    now = scalar(conn, "SELECT now()")  # same transaction: the function's now()
    conn.commit()

    assert isinstance(until, datetime) and until.tzinfo is not None
    assert until == now + timedelta(minutes=30)
    assert reservation(conn, target) == ("RESERVED", holder, until)
    assert available_plots(conn, project) == 0


def test_reserve_default_ttl(connect: Connect, world: World) -> None:
    conn = connect(autocommit=False)
    ws, project = world
    [target] = make_properties(conn, ws, project, 1)

    until = pyrelease.reserve(conn, target, uuid.uuid4())

    assert until == scalar(conn, "SELECT now()") + timedelta(hours=24)
    conn.rollback()


def test_release_expired_returns_the_count(conn: Conn, world: World) -> None:
    ws, project = world
    make_properties(conn, ws, project, 3, status="RESERVED")
    make_properties(conn, ws, project, 1, status="RESERVED", expired=False)

    first = pyrelease.release_expired(conn, batch_size=2)
    again = pyrelease.release_expired(conn)

    assert (type(first), first, again) == (int, 3, 0)
    assert available_plots(conn, project) == 3
    assert_counters_exact(conn)


@pytest.mark.parametrize("id_type", [str, uuid.UUID])
def test_release_reservation_returns_a_bool(
    conn: Conn, world: World, id_type: Callable[[Any], Any]
) -> None:
    ws, project = world
    [expired] = make_properties(conn, ws, project, 1, status="RESERVED")
    [pending] = make_properties(conn, ws, project, 1, status="RESERVED", expired=False)

    assert pyrelease.release_reservation(conn, id_type(str(expired))) is True
    assert pyrelease.release_reservation(conn, id_type(str(expired))) is False
    assert pyrelease.release_reservation(conn, id_type(str(pending))) is False
    assert pyrelease.release_reservation(conn, uuid.uuid4()) is False
    assert reservation(conn, expired) == ("AVAILABLE", None, None)


# --------------------------------------------------------------------- sync: errors


def test_errors_become_the_package_types(conn: Conn, world: World) -> None:
    ws, project = world
    [sold] = make_properties(conn, ws, project, 1, status="SOLD")
    [held] = make_properties(conn, ws, project, 1, status="RESERVED", expired=False)
    inactive = make_workspace(conn, "SUSPENDED")
    [frozen] = make_properties(conn, inactive, None, 1)
    cases: list[tuple[Any, type[pyrelease.PyreleaseError], str]] = [
        (uuid.uuid4(), pyrelease.PropertyNotFound, "RE001"),
        (sold, pyrelease.PropertySold, "RE002"),
        (held, pyrelease.PropertyReserved, "RE003"),
        (frozen, pyrelease.WorkspaceNotActive, "RE004"),
    ]
    for property_id, expected, sqlstate in cases:
        with pytest.raises(expected) as info:
            pyrelease.reserve(conn, property_id, uuid.uuid4())
        cause = info.value.__cause__
        assert isinstance(cause, psycopg.Error) and cause.sqlstate == sqlstate
        assert str(property_id) in str(info.value)
        assert "\n" not in str(info.value)

    assert issubclass(pyrelease.PropertyNotFound, LookupError)
    for cls in (pyrelease.PropertySold, pyrelease.PropertyReserved, pyrelease.WorkspaceNotActive):
        assert issubclass(cls, pyrelease.PropertyNotAvailable)
        assert issubclass(cls, pyrelease.PyreleaseError)
    assert not issubclass(pyrelease.PropertyNotFound, pyrelease.PropertyNotAvailable)
    assert issubclass(pyrelease.InvalidArgument, ValueError)
    assert reservation(conn, sold) == ("SOLD", None, None)


def test_errors_carry_structured_fields(conn: Conn, world: World) -> None:
    ws, project = world
    [sold] = make_properties(conn, ws, project, 1, status="SOLD")
    until = scalar(conn, "SELECT date_trunc('second', now()) + interval '1 hour 0.25 s'")
    [held] = make_properties(conn, ws, project, 1, status="RESERVED", reserved_until=until)
    unknown = uuid.uuid4()
    for property_id, sqlstate, reserved_until in (
        (unknown, "RE001", None),
        (sold, "RE002", None),
        (held, "RE003", until),
    ):
        with pytest.raises(pyrelease.PyreleaseError) as info:
            pyrelease.reserve(conn, str(property_id), uuid.uuid4())
        error = info.value
        assert (error.sqlstate, error.property_id, error.reserved_until) == (
            sqlstate,
            property_id,
            reserved_until,
        )
    with pytest.raises(pyrelease.InvalidArgument) as bad:
        pyrelease.release_expired(conn, 0)
    assert (bad.value.sqlstate, bad.value.property_id) == ("RE010", None)


def test_a_missing_query_parameter_is_a_bug_not_database_unavailable(conn: Conn) -> None:
    with pytest.raises(psycopg.ProgrammingError) as info, translated():
        conn.execute("SELECT %(missing)s::int", {})
    assert not isinstance(info.value, pyrelease.PyreleaseError)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c, p: pyrelease.reserve(c, "not-a-uuid", uuid.uuid4()), id="bad_id"),
        pytest.param(lambda c, p: pyrelease.reserve(c, p, "42"), id="bad_holder"),
        pytest.param(lambda c, p: pyrelease.release_reservation(c, "xyz"), id="bad_release_id"),
        pytest.param(lambda c, p: pyrelease.reserve(c, p, uuid.uuid4(), timedelta(0)), id="ttl_0"),
        pytest.param(
            lambda c, p: pyrelease.reserve(c, p, uuid.uuid4(), timedelta(seconds=-1)),
            id="ttl_negative",
        ),
        pytest.param(
            lambda c, p: pyrelease.reserve(c, p, uuid.uuid4(), timedelta(days=999_999_999)),
            id="ttl_out_of_range",
        ),
        pytest.param(lambda c, p: pyrelease.release_expired(c, 0), id="batch_0"),
        pytest.param(lambda c, p: pyrelease.release_expired(c, 2**31), id="batch_too_big"),
    ],
)
def test_bad_arguments_raise_invalid_argument(
    conn: Conn, world: World, call: Callable[[Conn, uuid.UUID], Any]
) -> None:
    ws, project = world
    [target] = make_properties(conn, ws, project, 1)

    with pytest.raises(pyrelease.InvalidArgument):
        call(conn, target)

    assert reservation(conn, target) == ("AVAILABLE", None, None)
    assert available_plots(conn, project) == 1


def test_counter_write_becomes_counter_is_read_only(conn: Conn, world: World) -> None:
    _, project = world
    with pytest.raises(pyrelease.CounterIsReadOnly), translated():
        conn.execute("UPDATE real_estate.project SET available_plots = 9 WHERE id = %s", (project,))
    assert available_plots(conn, project) == 0


def test_closed_connection_becomes_database_unavailable(connect: Connect, world: World) -> None:
    conn = connect()
    conn.close()
    with pytest.raises(pyrelease.DatabaseUnavailable):
        pyrelease.release_expired(conn)
    with pytest.raises(pyrelease.DatabaseUnavailable):
        pyrelease.reserve(conn, uuid.uuid4(), uuid.uuid4())


# --------------------------------------------------------------------- sync: transactions


def test_wrappers_run_in_the_callers_transaction(connect: Connect, world: World) -> None:
    ws, project = world
    observer = connect()
    conn = connect(autocommit=False)
    [target] = make_properties(observer, ws, project, 1)
    make_properties(observer, ws, project, 2, status="RESERVED")

    pyrelease.reserve(conn, target, uuid.uuid4())
    assert pyrelease.release_expired(conn) == 2
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert reservation(observer, target) == ("AVAILABLE", None, None)  # not committed yet
    conn.rollback()

    assert reservation(observer, target) == ("AVAILABLE", None, None)
    assert available_plots(observer, project) == 1
    assert scalar(observer, "SELECT count(*) FROM real_estate.release_run") == 0
    assert scalar(observer, "SELECT count(*) FROM real_estate.release_event") == 0

    until = pyrelease.reserve(conn, target, uuid.uuid4())
    conn.commit()
    assert reservation(observer, target)[::2] == ("RESERVED", until)
    assert available_plots(observer, project) == 0


def test_error_leaves_the_callers_transaction_to_the_caller(connect: Connect, world: World) -> None:
    ws, project = world
    conn = connect(autocommit=False)
    [first, sold] = make_properties(conn, ws, project, 1) + make_properties(
        conn, ws, project, 1, status="SOLD"
    )
    conn.commit()

    pyrelease.reserve(conn, first, uuid.uuid4())
    with pytest.raises(pyrelease.PropertySold):
        pyrelease.reserve(conn, sold, uuid.uuid4())
    conn.rollback()  # the failed transaction is the caller's to end: the first reserve is gone

    assert reservation(conn, first) == ("AVAILABLE", None, None)


# --------------------------------------------------------------------- async twins


@pytest.fixture
async def aconnect(db: str) -> AsyncIterator[Callable[..., Any]]:
    opened: list[psycopg.AsyncConnection[Any]] = []

    async def factory(autocommit: bool = True) -> psycopg.AsyncConnection[Any]:
        c = await psycopg.AsyncConnection.connect(db, autocommit=autocommit)
        opened.append(c)
        return c

    yield factory
    for c in opened:
        await c.close()


async def test_async_wrappers_values_and_types(
    aconnect: Callable[..., Any], conn: Conn, world: World
) -> None:
    ws, project = world
    [target] = make_properties(conn, ws, project, 1)
    make_properties(conn, ws, project, 2, status="RESERVED")
    [expired] = make_properties(conn, ws, project, 1, status="RESERVED")
    aconn: psycopg.AsyncConnection[Any] = await aconnect()
    holder = uuid.uuid4()

    assert await aio.release_reservation(aconn, str(expired)) is True
    assert await aio.release_reservation(aconn, expired) is False
    released = await aio.release_expired(aconn, batch_size=1)
    until = await aio.reserve(aconn, target, str(holder), ttl=timedelta(minutes=5))

    assert (type(released), released) == (int, 2)
    assert isinstance(until, datetime) and until.tzinfo is not None
    assert reservation(conn, target) == ("RESERVED", holder, until)
    assert timedelta(minutes=4) < until - datetime.now(until.tzinfo) <= timedelta(minutes=5)
    assert available_plots(conn, project) == 3
    assert_counters_exact(conn)


async def test_async_errors_become_the_package_types(
    aconnect: Callable[..., Any], conn: Conn, world: World
) -> None:
    ws, project = world
    [sold] = make_properties(conn, ws, project, 1, status="SOLD")
    [held] = make_properties(conn, ws, project, 1, status="RESERVED", expired=False)
    aconn: psycopg.AsyncConnection[Any] = await aconnect()

    with pytest.raises(pyrelease.PropertySold) as info:
        await aio.reserve(aconn, sold, uuid.uuid4())
    assert isinstance(info.value, pyrelease.PropertyNotAvailable)
    with pytest.raises(pyrelease.PropertyReserved):
        await aio.reserve(aconn, held, uuid.uuid4())
    with pytest.raises(pyrelease.PropertyNotFound):
        await aio.reserve(aconn, uuid.uuid4(), uuid.uuid4())
    with pytest.raises(pyrelease.InvalidArgument):
        await aio.reserve(aconn, "not-a-uuid", uuid.uuid4())
    with pytest.raises(pyrelease.InvalidArgument):
        await aio.reserve(aconn, held, uuid.uuid4(), ttl=timedelta(seconds=-5))
    with pytest.raises(pyrelease.InvalidArgument):
        await aio.release_expired(aconn, batch_size=0)


async def test_async_wrappers_run_in_the_callers_transaction(
    aconnect: Callable[..., Any], conn: Conn, world: World
) -> None:
    ws, project = world
    [target] = make_properties(conn, ws, project, 1)
    make_properties(conn, ws, project, 1, status="RESERVED")
    aconn: psycopg.AsyncConnection[Any] = await aconnect(autocommit=False)

    await aio.reserve(aconn, target, uuid.uuid4())
    assert await aio.release_expired(aconn) == 1
    await aconn.rollback()

    assert reservation(conn, target) == ("AVAILABLE", None, None)
    assert scalar(conn, "SELECT count(*) FROM real_estate.release_event") == 0
    assert available_plots(conn, project) == 1

    until = await aio.reserve(aconn, target, uuid.uuid4())
    await aconn.commit()
    assert reservation(conn, target)[::2] == ("RESERVED", until)
