"""The health of the scheduled release, as `pyrelease status` reads it for any role.

The rule is written once, in SQL: plpgsql/release_health.sql (docs/monitoring.md). Exporters
call the installed real_estate.release_health(); status never executes that routine (the
owner's: see owner.py) but runs the same body, loaded from the package's own plpgsql/
(queries.routine_body), inside owner.reading() on the tables it reads, so that the monitor,
the exporter and `status --check` give one verdict. A caller that sees pg_cron's job (the
owner, a superuser) also gets what it finds there (a job missing, paused or re-scheduled
behind pyrelease's back) among the problems. A database that lacks migrations gets "migrations
pending" as its problem, and what can still be read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

import psycopg

from . import cron
from .errors import DatabaseUnavailable, NotMigrated, expect_row, translated
from .owner import reading, reads_pg_cron
from .pending import LOG, Migrations, migration_state
from .queries import QUERIES, routine_body

# What status reads: tables only, never a view or routine of the owner's (see owner.py).
TABLES = (
    "real_estate.workspace",
    "real_estate.project",
    "real_estate.property",
    "real_estate.release_run",
    "real_estate.release_event",
    "real_estate.release_schedule",
    "real_estate.release_heartbeat",
    LOG,
)


@dataclass(frozen=True)
class Rule:
    """The row of real_estate.release_health(), by its columns' names."""

    healthy: bool
    reason: str
    problems: list[str]
    backlog: int
    oldest_expired_seconds: float | None
    backlog_stale: bool
    last_scheduled_run_finished_at: datetime | None
    last_scheduled_run_age_seconds: float | None
    scheduled_run_stale: bool
    run_in_progress: bool
    waiting_for_first_run: bool
    limit_seconds: float
    failed_rows: int
    counter_drift: int | None
    event_feed_held_back_seconds: float | None
    job_name: str | None
    job_schedule: str | None
    job_active: bool | None
    job_interval_seconds: float | None
    job_registered_at: datetime | None
    job_cron_database: str | None
    job_timezone: str | None
    checked_at: datetime


# The rule's figures as status --json gives them (the verdict and the job apart).
_FIGURES = [
    f.name
    for f in fields(Rule)
    if f.name not in ("healthy", "reason", "problems") and not f.name.startswith("job_")
]


@dataclass(frozen=True)
class Live:
    """pg_cron's own view of the job, for a role that may read it."""

    available: bool
    job: cron.Job | None = None
    runs: list[cron.JobRun] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    database: str
    migrations: Migrations
    rule: Rule | None
    """None while migrations are pending (the rule's tables may not be there)."""
    live: Live | None
    """None when this role does not see pg_cron's job (only the owner and superusers do)."""
    runs: list[tuple[Any, ...]]
    """The latest rows of the run log (empty when this role cannot read it)."""

    @property
    def problems(self) -> list[str]:
        if not self.migrations.current:
            return [self.migrations.message()]
        rule = expect_row(self.rule, "release_health")
        return [*rule.problems, *_live_problems(rule, self.live)]

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        problems = self.problems
        return "; ".join(problems) if problems or self.rule is None else self.rule.reason

    def as_json(self) -> dict[str, Any]:
        """One JSON object: the rule's figures (null while migrations are pending), the
        verdict, and pg_cron's view when this role has it."""
        rule = self.rule
        figures = {name: getattr(rule, name) if rule else None for name in _FIGURES}
        job = None
        if rule is not None and rule.job_name is not None:
            job = {
                "name": rule.job_name,
                "schedule": rule.job_schedule,
                "active": rule.job_active,
                "interval_seconds": rule.job_interval_seconds,
                "cron_database": rule.job_cron_database,
                "timezone": rule.job_timezone,
                "registered_at": _iso(rule.job_registered_at),
            }
        live = None
        if self.live is not None:
            found = self.live.job
            live = {
                "available": self.live.available,
                "job": _plain(asdict(found)) if found is not None else None,
                "runs": [_plain(asdict(run)) for run in self.live.runs],
            }
        return {
            "database": self.database,
            "healthy": self.healthy,
            "reason": self.reason,
            "problems": self.problems,
            "pending_migrations": list(self.migrations.pending),
            **_plain(figures),
            "job": job,
            "pg_cron": live,
        }


def read(conn: psycopg.Connection[Any]) -> Report:
    """The health of the release in the connected database, as this role can read it."""
    live = _live(conn) if reads_pg_cron(conn) else None
    with reading(conn, TABLES) as readable, translated():
        migrations = migration_state(conn)
        if not migrations.installed:
            raise NotMigrated(migrations.message())
        rule = None
        if migrations.current:
            with psycopg.RawCursor(conn) as cur:
                row = expect_row(
                    cur.execute(routine_body("release_health"), (True,)).fetchone(), "rule"
                )
                names = [column.name for column in cur.description or ()]
            rule = Rule(**dict(zip(names, row, strict=True)))
        runs = []
        if "real_estate.release_run" in readable:
            runs = conn.execute(QUERIES["last_runs"], {"limit": 5}).fetchall()
    return Report(str(conn.info.dbname), migrations, rule, live, runs)


def _live(conn: psycopg.Connection[Any]) -> Live:
    try:
        setup = cron.cron_setup(conn)
    except DatabaseUnavailable:
        setup = None
    if setup is None:
        return Live(available=False)
    found = cron.job(conn)
    return Live(True, found, cron.job_runs(conn, found) if found is not None else [])


def _live_problems(rule: Rule, live: Live | None) -> list[str]:
    """What pg_cron shows that the registration does not (the job changed behind
    pyrelease's back): the rule itself sees it only once runs stop."""
    if live is None or rule.job_name is None:
        if live is not None and live.job is not None:
            return [
                f"job {live.job.name!r} runs in pg_cron but is not registered"
                " (`pyrelease schedule` registers it)"
            ]
        return []
    name = rule.job_name
    if not live.available:
        return [f"job {name!r} is registered but pg_cron is not available"]
    if live.job is None:
        return (
            [f"job {name!r} is registered but missing from pg_cron (`pyrelease schedule`)"]
            if rule.job_active
            else []
        )
    problems = []
    if not live.job.active and rule.job_active:
        problems.append(f"job {live.job.name!r} is inactive")
    if live.job.schedule != rule.job_schedule:
        problems.append(
            f"job {live.job.name!r} runs at {live.job.schedule!r} in pg_cron, registered at"
            f" {rule.job_schedule!r} (`pyrelease schedule --cron ...` registers it)"
        )
    return problems


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Values as JSON takes them: times in ISO 8601."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}
