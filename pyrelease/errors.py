"""The package's exception types, and the one place where database errors become them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from uuid import UUID

import psycopg


class PyreleaseError(Exception):
    """Base class of every error pyrelease raises on purpose.

    Structured fields: ``sqlstate`` (always there: the server's SQLSTATE, None when the
    error did not come from the server), ``property_id`` and ``reserved_until`` (None where
    they do not apply).
    """

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        property_id: UUID | None = None,
        reserved_until: datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.property_id = property_id
        self.reserved_until = reserved_until


class InvalidArgument(PyreleaseError, ValueError):
    """An argument was rejected (SQLSTATE RE010 and PostgreSQL's own data errors)."""


class PropertyNotFound(PyreleaseError, LookupError):
    """The property does not exist (SQLSTATE RE001)."""


class PropertyNotAvailable(PyreleaseError):
    """The property cannot be reserved now (base of the three below)."""


class PropertySold(PropertyNotAvailable):
    """The property is SOLD (SQLSTATE RE002)."""


class PropertyReserved(PropertyNotAvailable):
    """The property is held by a reservation that has not expired (SQLSTATE RE003)."""


class WorkspaceNotActive(PropertyNotAvailable):
    """The property's workspace is INACTIVE or SUSPENDED (SQLSTATE RE004)."""


class PropertyNotHeld(PyreleaseError):
    """The reservation is not held by this holder: another holder, expired, or not reserved
    (SQLSTATE RE005, raised by extend and sell; the message says which); ``reserved_until``
    is the reservation's expiry when there is one."""


class CounterIsReadOnly(PyreleaseError):
    """available_plots was written directly; the database maintains it (SQLSTATE RE011)."""


class DatabaseUnavailable(PyreleaseError):
    """The server could not be reached, or the connection string is unusable."""


class ScheduleError(PyreleaseError):
    """pg_cron is missing or refused to (un)schedule the release job."""


class MigrationError(PyreleaseError):
    """Applying or rolling back migrations failed; nothing of the failed step was kept."""


class NotMigrated(PyreleaseError):
    """The database has no real_estate schema yet: run `pyrelease migrate`."""


_BY_SQLSTATE: dict[str, type[PyreleaseError]] = {
    "RE001": PropertyNotFound,
    "RE002": PropertySold,
    "RE003": PropertyReserved,
    "RE004": WorkspaceNotActive,
    "RE005": PropertyNotHeld,
    "RE010": InvalidArgument,
    "RE011": CounterIsReadOnly,
    # PostgreSQL's own rejections of a bad value (malformed uuid, out-of-range
    # interval or integer, NULL where not allowed) are bad input too.
    "22P02": InvalidArgument,
    "22007": InvalidArgument,
    "22008": InvalidArgument,
    "22003": InvalidArgument,
    "22004": InvalidArgument,
    "42846": InvalidArgument,  # cannot coerce (a value of the wrong type)
    "42804": InvalidArgument,  # datatype mismatch
    "3F000": NotMigrated,
    "42P01": NotMigrated,
    "42883": NotMigrated,
}


# RE003's and RE005's messages end in the reservation's expiry, as the server prints a
# timestamptz (DateStyle ISO, PostgreSQL's default).
_RESERVED_UNTIL = re.compile(
    r" reserved until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d(?::\d\d)?)$"
)


def translate(
    exc: BaseException, *, property_id: UUID | str | None = None
) -> PyreleaseError | None:
    """Return the package's exception for a database error, or None to let it pass; the
    keyword fields (where the caller knows them) go into the exception."""
    if isinstance(exc, PyreleaseError):
        return exc
    if isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None:
        return DatabaseUnavailable(_first_line(exc))
    if isinstance(exc, psycopg.DataError) and exc.sqlstate is None:
        return InvalidArgument(_first_line(exc))  # refused by psycopg before sending
    if isinstance(exc, psycopg.ProgrammingError) and exc.sqlstate is None:
        return DatabaseUnavailable(_first_line(exc))
    if isinstance(exc, psycopg.Error) and exc.sqlstate in _BY_SQLSTATE:
        kind = _BY_SQLSTATE[exc.sqlstate]
        if kind is NotMigrated:
            return NotMigrated(
                f"{_first_line(exc)} (is the database migrated? run `pyrelease migrate`)",
                sqlstate=exc.sqlstate,
            )
        message = _first_line(exc)
        about_property = kind not in (InvalidArgument, CounterIsReadOnly)
        return kind(
            message,
            sqlstate=exc.sqlstate,
            property_id=_uuid(property_id) if about_property else None,
            reserved_until=_reserved_until(message)
            if kind in (PropertyReserved, PropertyNotHeld)
            else None,
        )
    return None


def _uuid(value: UUID | str | None) -> UUID | None:
    if value is None or isinstance(value, UUID):
        return value
    try:
        return UUID(value)
    except ValueError:
        return None


def _reserved_until(message: str) -> datetime | None:
    found = _RESERVED_UNTIL.search(message)
    if found is None:
        return None
    try:
        return datetime.fromisoformat(found.group(1))
    except ValueError:
        return None


@contextmanager
def translated(*, property_id: UUID | str | None = None) -> Iterator[None]:
    """Re-raise database errors as the package's exception types (cause kept)."""
    try:
        yield
    except psycopg.Error as exc:
        mapped = translate(exc, property_id=property_id)
        if mapped is None:
            raise
        raise mapped from exc


def require(value: object, kind: type | tuple[type, ...], name: str) -> None:
    """Refuse a Python value of the wrong type before it reaches the database."""
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InvalidArgument(f"{name} must be {_kind_name(kind)}, got {value!r}")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def first_line(exc: BaseException) -> str:
    """An error in one line: the server's primary message, else the first line of its text."""
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(exc) or type(exc).__name__
    return text.strip().splitlines()[0]
