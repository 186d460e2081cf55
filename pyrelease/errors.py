"""The package's exception types, and the one place where database errors become them.

Every call that reaches PostgreSQL runs inside ``translated()``: a database error whose
SQLSTATE the package knows becomes one of the types below (the psycopg error kept as
``__cause__``); any other server error (a serialization failure to retry, a permission
denied, a statement timeout) passes through unchanged, so a caller can still handle it the
way psycopg documents. ``first_line()`` is how any error is shown in one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import unquote
from uuid import UUID

import psycopg


class PyreleaseError(Exception):
    """Base class of every error pyrelease raises on purpose.

    Structured fields, for code that reacts to an error without reading its message:
    ``sqlstate`` (always present: the database's SQLSTATE, None when the error did not come
    from the server), ``property_id`` and ``reserved_until`` (None where they do not apply).
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
    """The property is held by a reservation that has not expired (SQLSTATE RE003);
    ``reserved_until`` tells until when."""


class WorkspaceNotActive(PropertyNotAvailable):
    """The property's workspace is INACTIVE or SUSPENDED (SQLSTATE RE004)."""


class PropertyNotHeld(PyreleaseError):
    """The reservation is not held by this holder: another holder, expired, or not reserved
    (SQLSTATE RE005, raised by extend and sell; the message says which); ``reserved_until``
    is the reservation's expiry when there is one."""


class CounterIsReadOnly(PyreleaseError):
    """available_plots was written directly; the database maintains it (SQLSTATE RE011)."""


class EventsPurged(PyreleaseError):
    """Release events after the cursor were deleted by the log retention before they were read
    (SQLSTATE RE030, raised by release_events() and listen()). ``oldest_kept_id``: every
    event from this id on is kept; read on with ``after_id=oldest_kept_id - 1``."""

    def __init__(self, message: str, *, oldest_kept_id: int | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.oldest_kept_id = oldest_kept_id


class DatabaseUnavailable(PyreleaseError):
    """The server could not be reached, or the connection string is unusable."""


class ScheduleError(PyreleaseError):
    """pg_cron is missing or refused to (un)schedule the release job."""


class MigrationError(PyreleaseError):
    """Applying or rolling back migrations failed; nothing of the failed step was kept."""


class NotDistributable(PyreleaseError):
    """`pyrelease distribute` cannot run here: no Citus, no workers, or not migrated
    (SQLSTATE RE020, RE021, RE022)."""


class NotOwner(PyreleaseError):
    """The command runs the install's own code and this role does not own the install:
    connect as its owner (the message names it)."""


class NotMigrated(PyreleaseError):
    """The database has no real_estate schema yet: run `pyrelease migrate`."""


class Unhealthy(PyreleaseError):
    """`status --check` found the scheduled release not doing its job."""


_BY_SQLSTATE: dict[str, type[PyreleaseError]] = {
    "RE001": PropertyNotFound,
    "RE002": PropertySold,
    "RE003": PropertyReserved,
    "RE004": WorkspaceNotActive,
    "RE005": PropertyNotHeld,
    "RE010": InvalidArgument,
    "RE011": CounterIsReadOnly,
    "RE030": EventsPurged,  # release events after the cursor were purged
    "RE020": NotDistributable,  # Citus is not installed in the database
    "RE021": NotDistributable,  # the coordinator has no worker
    "RE022": NotDistributable,  # migration 0009's keys are missing
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
    "42703": NotMigrated,  # a column of a later migration (rolled back, or not applied yet)
}

# RE003's and RE005's messages end in the reservation's expiry, as the server prints a timestamptz
# (DateStyle ISO, PostgreSQL's default): 'property … is reserved until 2026-12-02 06:00:00+00'.
_RESERVED_UNTIL = re.compile(
    r" reserved until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d(?::\d\d)?)$"
)

# RE030's message ends in the first id kept: '... ids from 1235 on are kept'.
_OLDEST_KEPT = re.compile(r"ids from (\d+) on are kept$")

T = TypeVar("T")


def first_line(exc: BaseException) -> str:
    """An error in one line, without a password: the server's primary message, else the
    first line of its text."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(exc)
    lines = text.strip().splitlines()
    return redact(lines[0].strip()) if lines else type(exc).__name__


def one_line(text: str) -> str:
    """Text from elsewhere (pg_cron's multi-line messages) folded onto one line."""
    return redact(" ".join(text.split()))


# user:password@ in a URL, password=... in a key=value connection string (libpq echoes
# both in its errors, argparse in its usage errors).
_URL_PASSWORD = re.compile(r"""(://[^:/@\s]*:)[^\s"']*@""")
_KEYWORD_PASSWORD = re.compile(r"""(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'"&]+)""", re.I)
# A malformed connection string puts pieces of its password wherever libpq then cuts it
# ('invalid percent-encoded token: "S3cret%Pw"', "failed to resolve host 'Pw@h'", 'missing
# "=" after "Pw"'): those pieces are remembered (hide) and removed from any text shown.
_SCHEME = re.compile(r"^\s*[A-Za-z][\w+.-]*://")
_KEY = re.compile(r"password\s*=\s*", re.I)
_NEXT_KEY = re.compile(r"(?:\s+|&)[A-Za-z_]\w*\s*=")
_QUOTED = re.compile(r"""'(?:[^'\\]|\\.)*'?""")
_CUTS = re.compile(r"""[\s@/?#&=:%\[\]'"\\,;]+""")
_hidden: set[str] = set()


def hide(text: str) -> None:
    """Remember the password of a connection string (any text that may hold one: an argument,
    DATABASE_URL), whatever its shape, so that redact() removes it, and every piece of it
    libpq could cut it into, from whatever it is shown in."""
    regions = []
    scheme = _SCHEME.match(text)
    if scheme:  # URL: everything between "user:" and the last "@"
        rest = text[scheme.end() :]
        colon, at = rest.find(":"), rest.rfind("@")
        if -1 < colon < at:
            regions.append(rest[colon + 1 : at])
    for key in _KEY.finditer(text):  # password=..., up to the next key (quoted: the quote)
        value = text[key.end() :]
        quoted = _QUOTED.match(value)
        nxt = _NEXT_KEY.search(value)
        regions.append(quoted.group() if quoted else value[: nxt.start()] if nxt else value)
    for region in regions:
        for form in (region, unquote(region)):
            pieces = {form.strip(), *_CUTS.split(form)}
            _hidden.update(p for p in pieces if len(p) >= 2)


def redact(text: str) -> str:
    """Text with every password of a connection string in it, and every piece of a password
    hide() was given, replaced by ***."""
    text = _URL_PASSWORD.sub(r"\1***@", text)
    text = _KEYWORD_PASSWORD.sub(r"\1***", text)
    for piece in sorted(_hidden, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


def translate(
    exc: BaseException, *, property_id: UUID | str | None = None
) -> PyreleaseError | None:
    """The package's exception for an error, or None when it must pass through unchanged.

    Client-side errors (no SQLSTATE) are told apart by psycopg's class: a connection that
    failed is DatabaseUnavailable, a value psycopg refused to send is InvalidArgument; a
    client-side ProgrammingError (a bug, e.g. a missing query parameter) passes through.
    """
    if isinstance(exc, PyreleaseError):
        return exc
    if not isinstance(exc, psycopg.Error):
        return None
    sqlstate = exc.sqlstate
    if sqlstate is None:
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return DatabaseUnavailable(first_line(exc))
        if isinstance(exc, psycopg.DataError):
            return InvalidArgument(first_line(exc))  # refused by psycopg before sending
        return None
    kind = _BY_SQLSTATE.get(sqlstate)
    if kind is None:
        return None
    message = first_line(exc)
    if kind is NotMigrated:
        message += " (is the database migrated? run `pyrelease migrate`)"
    fields: dict[str, Any] = {"sqlstate": sqlstate}
    about_property = PropertyNotFound | PropertyNotAvailable | PropertyNotHeld
    if issubclass(kind, about_property) and property_id is not None:
        fields["property_id"] = _uuid(property_id)
    if kind in (PropertyReserved, PropertyNotHeld):
        fields["reserved_until"] = _reserved_until(message)
    if kind is EventsPurged:
        kept = _OLDEST_KEPT.search(message)
        fields["oldest_kept_id"] = int(kept.group(1)) if kept else None
    return kind(message, **fields)


@contextmanager
def translated(*, property_id: UUID | str | None = None) -> Iterator[None]:
    """Re-raise database errors as the package's exception types (cause kept); the
    keyword fields (where the caller knows them) go into the exception."""
    try:
        yield
    except psycopg.Error as exc:
        mapped = translate(exc, property_id=property_id)
        if mapped is None:
            raise
        raise mapped from exc


@contextmanager
def reraised_as(kind: type[PyreleaseError], prefix: str) -> Iterator[None]:
    """Like translated(), but a server error the package has no type for becomes `kind`
    ("prefix: first line"), for calls (pg_cron's) that must raise only package errors."""
    try:
        yield
    except psycopg.Error as exc:
        mapped = translate(exc)
        if mapped is None:
            mapped = kind(f"{prefix}: {first_line(exc)}", sqlstate=exc.sqlstate)
        raise mapped from exc


def expect_row(row: T | None, what: str) -> T:
    """The row of a query that always returns one (an error, not an assert, if it did not)."""
    if row is None:
        raise PyreleaseError(f"{what} returned no row")
    return row


def require(value: object, kind: type | tuple[type, ...], name: str) -> None:
    """Refuse a Python value of the wrong type before it reaches the database."""
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InvalidArgument(f"{name} must be {_kind_name(kind)}, got {value!r}")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _uuid(value: UUID | str) -> UUID | None:
    if isinstance(value, UUID):
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
