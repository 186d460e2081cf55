"""The package's exception types, and the one place where database errors become them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


class PyreleaseError(Exception):
    """Base class of every error pyrelease raises on purpose."""


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


class CounterIsReadOnly(PyreleaseError):
    """available_plots was written directly; the database maintains it (SQLSTATE RE011)."""


class DatabaseUnavailable(PyreleaseError):
    """The server could not be reached, or the connection string is unusable."""


class ScheduleError(PyreleaseError):
    """pg_cron is missing or refused to (un)schedule the release job."""


class MigrationError(PyreleaseError):
    """Applying or rolling back migrations failed; nothing of the failed step was kept."""


class NotDistributable(PyreleaseError):
    """`pyrelease distribute` cannot run here: no Citus, no workers, or not migrated
    (SQLSTATE RE020, RE021, RE022)."""


class NotMigrated(PyreleaseError):
    """The database has no real_estate schema yet: run `pyrelease migrate`."""


_BY_SQLSTATE: dict[str, type[PyreleaseError]] = {
    "RE001": PropertyNotFound,
    "RE002": PropertySold,
    "RE003": PropertyReserved,
    "RE004": WorkspaceNotActive,
    "RE010": InvalidArgument,
    "RE011": CounterIsReadOnly,
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
}


def translate(exc: BaseException) -> PyreleaseError | None:
    """Return the package's exception for a database error, or None to let it pass."""
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
                f"{_first_line(exc)} (is the database migrated? run `pyrelease migrate`)"
            )
        return kind(_first_line(exc))
    return None


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise database errors as the package's exception types (cause kept)."""
    try:
        yield
    except psycopg.Error as exc:
        mapped = translate(exc)
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


def _first_line(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(exc) or type(exc).__name__
    return text.strip().splitlines()[0]
