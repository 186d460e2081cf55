"""pyrelease: property reservations never stay locked past their expiry.

The release runs inside PostgreSQL (real_estate.release_expired_reservations, scheduled by
pg_cron); this package applies the migrations and wraps the SQL calls. Async twins of the
wrappers live in :mod:`pyrelease.aio`.
"""

from .api import release_expired, release_reservation, reserve
from .cron import schedule_database as schedule
from .cron import unschedule_database as unschedule
from .distribute import distribute
from .errors import (
    CounterIsReadOnly,
    DatabaseUnavailable,
    InvalidArgument,
    MigrationError,
    NotDistributable,
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
    "NotDistributable",
    "NotMigrated",
    "PropertyNotAvailable",
    "PropertyNotFound",
    "PropertyReserved",
    "PropertySold",
    "PyreleaseError",
    "ScheduleError",
    "WorkspaceNotActive",
    "distribute",
    "migrate",
    "release_expired",
    "release_reservation",
    "reserve",
    "rollback",
    "schedule",
    "unschedule",
]
