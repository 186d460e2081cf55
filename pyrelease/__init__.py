"""pyrelease: property reservations never stay locked past their expiry.

The release runs inside PostgreSQL (real_estate.release_expired_reservations, scheduled by
pg_cron); this package applies the migrations and wraps the SQL calls. Async twins of the
wrappers live in :mod:`pyrelease.aio`.
"""

__version__ = "0.2.0"

from . import aio
from .api import (
    cancel,
    extend,
    listen,
    release_events,
    release_expired,
    release_reservation,
    reserve,
    sell,
)
from .cron import schedule_database as schedule
from .cron import unschedule_database as unschedule
from .distribute import distribute
from .errors import (
    CounterIsReadOnly,
    DatabaseUnavailable,
    EventsPurged,
    InvalidArgument,
    MigrationError,
    NotDistributable,
    NotMigrated,
    NotOwner,
    PropertyNotAvailable,
    PropertyNotFound,
    PropertyNotHeld,
    PropertyReserved,
    PropertySold,
    PyreleaseError,
    ScheduleError,
    WorkspaceNotActive,
)
from .events import ReleaseEvent
from .migrations import migrate, migrations_dir, rollback

__all__ = [
    "CounterIsReadOnly",
    "DatabaseUnavailable",
    "EventsPurged",
    "InvalidArgument",
    "MigrationError",
    "NotDistributable",
    "NotMigrated",
    "NotOwner",
    "PropertyNotAvailable",
    "PropertyNotFound",
    "PropertyNotHeld",
    "PropertyReserved",
    "PropertySold",
    "PyreleaseError",
    "ReleaseEvent",
    "ScheduleError",
    "WorkspaceNotActive",
    "__version__",
    "aio",
    "cancel",
    "distribute",
    "extend",
    "listen",
    "migrate",
    "migrations_dir",
    "release_events",
    "release_expired",
    "release_reservation",
    "reserve",
    "rollback",
    "schedule",
    "sell",
    "unschedule",
]
