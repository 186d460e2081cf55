"""pyrelease: property reservations never stay locked past their expiry.

The release runs inside PostgreSQL (real_estate.release_expired_reservations, scheduled by
pg_cron); this package applies the migrations and wraps the SQL calls. Async twins of the
wrappers live in :mod:`pyrelease.aio`.
"""

from .api import release_expired, release_reservation, reserve
from .cron import schedule as _schedule_job
from .cron import unschedule as _unschedule_job
from .errors import (
    CounterIsReadOnly,
    DatabaseUnavailable,
    InvalidArgument,
    MigrationError,
    NotMigrated,
    PropertyNotAvailable,
    PropertyNotFound,
    PropertyReserved,
    PropertySold,
    PyreleaseError,
    ScheduleError,
    WorkspaceNotActive,
)
from .migrations import migrate, rollback

__all__ = [
    "CounterIsReadOnly",
    "DatabaseUnavailable",
    "InvalidArgument",
    "MigrationError",
    "NotMigrated",
    "PropertyNotAvailable",
    "PropertyNotFound",
    "PropertyReserved",
    "PropertySold",
    "PyreleaseError",
    "ScheduleError",
    "WorkspaceNotActive",
    "migrate",
    "release_expired",
    "release_reservation",
    "reserve",
    "rollback",
    "schedule",
    "unschedule",
]


def schedule(dsn: str = "", cron: str = "*/5 * * * *", retention: str = "30 days") -> None:
    """Create or update the pg_cron release job of the database at `dsn`."""
    import psycopg

    from .errors import translated

    with translated(), psycopg.connect(dsn, autocommit=True) as conn:
        _schedule_job(conn, cron, retention)


def unschedule(dsn: str = "") -> bool:
    """Remove the pg_cron release job of the database at `dsn`; True if there was one."""
    import psycopg

    from .errors import translated

    with translated(), psycopg.connect(dsn, autocommit=True) as conn:
        return _unschedule_job(conn)
