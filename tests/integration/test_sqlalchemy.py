"""The API from SQLAlchemy (psycopg 3 driver): the psycopg connection under a Connection or a
Session (`conn.connection.driver_connection`, or pyrelease.alembic.driver_connection), in
SQLAlchemy's transaction; listen() on an AUTOCOMMIT connection."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from factories import connect_to, make_project, make_properties, make_workspace, scalar

import pyrelease
from pyrelease.alembic import driver_connection

sqlalchemy = pytest.importorskip("sqlalchemy")
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402


def url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+psycopg://", 1)


def status(dsn: str, property_id: uuid.UUID) -> str:
    with connect_to(dsn) as c:
        return str(
            scalar(c, "SELECT status FROM real_estate.property WHERE id = %s", (property_id,))
        )


def test_connection_and_session(db: str) -> None:
    with connect_to(db) as c:
        ws = make_workspace(c)
        first, second = make_properties(c, ws, make_project(c, ws), 2)
    buyer = uuid.uuid4()
    engine = create_engine(url(db))
    try:
        with engine.connect() as conn:
            pyrelease.reserve(conn.connection.driver_connection, first, buyer, timedelta(hours=1))
            conn.rollback()  # SQLAlchemy's transaction is the call's
        assert status(db, first) == "AVAILABLE"
        with engine.connect() as conn:
            pyrelease.reserve(conn.connection.driver_connection, first, buyer, timedelta(hours=1))
            conn.execute(text("SELECT 1"))
            conn.commit()
        assert status(db, first) == "RESERVED"

        with Session(engine) as session:
            pyrelease.reserve(driver_connection(session), second, buyer, timedelta(hours=1))
            pyrelease.sell(driver_connection(session), second, buyer)
            session.commit()
        assert status(db, second) == "SOLD"

        with pytest.raises(pyrelease.PropertyNotHeld), Session(engine) as session:
            pyrelease.sell(driver_connection(session), first, uuid.uuid4())
    finally:
        engine.dispose()


def test_listen_on_an_autocommit_connection(db: str) -> None:
    with connect_to(db) as c:
        ws = make_workspace(c)
        [held] = make_properties(c, ws, make_project(c, ws), 1, status="RESERVED")
    engine = create_engine(url(db), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            released = pyrelease.release_expired(conn.connection.driver_connection)
            events = list(pyrelease.listen(driver_connection(conn), after_id=0, timeout=0.5))
        assert released == 1
        assert [(e.property_id, e.reason) for e in events] == [(held, "expired")]
    finally:
        engine.dispose()


def test_another_driver_is_refused_in_one_line() -> None:
    class Pooled:
        driver_connection = object()  # psycopg2's, pg8000's, ...

    class Bind:
        connection = Pooled()

    with pytest.raises(pyrelease.MigrationError, match="psycopg 3 driver") as info:
        driver_connection(Bind())
    assert "\n" not in str(info.value)
