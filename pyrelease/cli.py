"""The `pyrelease` command line: migrate, rollback, release, status, schedule, unschedule,
watch, grants,
distribute.

Every failure is one line on stderr and a non-zero exit (1: the operation failed, 2: bad
usage), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, NoReturn
from uuid import UUID

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from . import __version__, api, cron, grants, health, migrations
from .db import connect, pinned
from .distribute import distribute
from .errors import (
    DatabaseUnavailable,
    EventsPurged,
    PyreleaseError,
    Unhealthy,
    first_line,
    hide,
    one_line,
    redact,
    translated,
)
from .events import ReleaseEvent
from .owner import require_owner
from .pending import migration_state, require_migrated
from .queries import QUERIES

PROG = "pyrelease"


def resolve_dsn(cli_dsn: str | None) -> str:
    """--dsn, else DATABASE_URL, else "" (libpq then reads the PG* variables)."""
    dsn = cli_dsn if cli_dsn is not None else os.environ.get("DATABASE_URL", "")
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://"):
        if dsn.startswith(prefix):
            dsn = "postgresql://" + dsn[len(prefix) :]
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise DatabaseUnavailable(f"invalid connection string: {first_line(exc)}") from exc
    if "connect_timeout" not in params and "PGCONNECT_TIMEOUT" not in os.environ:
        dsn = make_conninfo(dsn, connect_timeout=10)
    return dsn


def cmd_migrate(args: argparse.Namespace) -> None:
    if args.sql:
        print(migrations.migrate_sql(args.dsn, schedule=not args.no_schedule), end="")
        return
    if args.break_lock:
        migrations.break_lock(args.dsn)
        print("migration lock cleared")
    outcome = migrations.migrate_outcome(args.dsn, schedule=not args.no_schedule)
    # (what the install did beyond the numbered migrations: said when none was pending)
    done = [f"applied {', '.join(outcome.applied)}"] if outcome.applied else outcome.done
    print("\n".join(done or ["already up to date"]))


def cmd_rollback(args: argparse.Namespace) -> None:
    steps: int | Literal["all"] = "all" if args.all else args.steps or 1
    if args.sql:
        print(migrations.rollback_sql(args.dsn, steps), end="")
        return
    undone = migrations.rollback(args.dsn, steps)
    print(f"rolled back {', '.join(undone)}" if undone else "nothing to roll back")


def cmd_release(args: argparse.Namespace) -> None:
    with connect(args.dsn) as conn:
        require_owner(conn, "release")
        require_migrated(conn, "release")
        with pinned(conn):
            if args.property_id is not None:
                done = api.release_reservation(conn, args.property_id)
            else:
                count = api.release_expired(conn, args.batch_size)
    if args.property_id is not None:
        print(f"{args.property_id}: {'released' if done else 'nothing to release'}")
    else:
        print(f"released {count} expired reservation(s)")


def cmd_watch(args: argparse.Namespace) -> None:
    """One line per release event as it is committed, until interrupted (Ctrl-C: exit 0)."""
    try:
        with connect(args.dsn) as conn:
            require_owner(conn, "watch")
            require_migrated(conn, "watch")
            after = args.after
            if after is None:
                with translated(), pinned(conn):
                    row = conn.execute(QUERIES["last_event_id"]).fetchone()
                after = int(row[0]) if row is not None else 0
            print(f"watching release events after #{after} (Ctrl-C to stop)", file=sys.stderr)
            for event in _listen(conn, after):
                if args.json:
                    print(json.dumps(event.as_json()), flush=True)
                else:
                    print(
                        f"{_ts(event.released_at)} #{event.id} {event.reason}:"
                        f" property {event.property_id} project {event.project_id or '-'}"
                        f" workspace {event.workspace_id} holder {event.reserved_by_id}"
                        f" (reserved until {_ts(event.reserved_until)})",
                        flush=True,
                    )
    except KeyboardInterrupt:
        return


def _listen(conn: psycopg.Connection[Any], after: int) -> Iterator[ReleaseEvent]:
    """listen(), whose EventsPurged says how to go on."""
    try:
        yield from api.listen(conn, after_id=after)
    except EventsPurged as exc:
        go_on = f" (--after {exc.oldest_kept_id - 1} goes on)" if exc.oldest_kept_id else ""
        raise EventsPurged(
            f"{exc}{go_on}", sqlstate=exc.sqlstate, oldest_kept_id=exc.oldest_kept_id
        ) from exc


def _after(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0 or value > 2**63 - 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and {2**63 - 1}, got {text}")
    return value


def cmd_distribute(args: argparse.Namespace) -> None:
    for step in distribute(args.dsn, args.shard_count):
        print(f"{step.object}: {step.action}")


def cmd_schedule(args: argparse.Namespace) -> None:
    with connect(args.dsn) as conn:
        job = cron.schedule(conn, args.cron, args.retention)
    print(
        f"job {job.name!r} (id {job.jobid}) runs {job.command!r} at {job.schedule!r}"
        f" in database {job.database!r} (pg_cron in {job.cron_database!r})"
    )


def cmd_unschedule(args: argparse.Namespace) -> None:
    with connect(args.dsn) as conn:
        removed = cron.unschedule(conn)
        pending = migration_state(conn).message()
    print("release job removed" if removed else "no release job was scheduled")
    if pending:
        print(f"{PROG}: {pending}", file=sys.stderr)


def cmd_grants(args: argparse.Namespace) -> None:
    database = args.database or conninfo_to_dict(args.dsn).get("dbname")
    if not database:
        raise DatabaseUnavailable("grants: name the application database (--database or --dsn)")
    print(grants.grants_sql(args.owner, str(database), args.cron_database), end="")


def cmd_status(args: argparse.Namespace) -> None:
    with connect(args.dsn) as conn:
        report = health.read(conn)
    if args.json:
        print(json.dumps(report.as_json()))
    else:
        _print_status(report, args.check)
    if args.check and not report.healthy:
        raise Unhealthy(f"unhealthy: {report.reason}")


def _print_status(report: health.Report, check: bool) -> None:
    rule, live = report.rule, report.live
    print(f"database: {report.database}")
    if not report.migrations.current:
        print(report.migrations.message())
    if live is not None and live.job is not None:
        job = live.job
        state = "active" if job.active else "INACTIVE"
        print(
            f"schedule: {job.name!r} {job.schedule!r} {state},"
            f" pg_cron in {job.cron_database!r}, job id {job.jobid}{_zone(rule)}"
        )
    elif live is None and rule is not None and rule.job_name is not None:
        state = "active" if rule.job_active else "INACTIVE"
        print(
            f"schedule: {rule.job_name!r} {rule.job_schedule!r} {state} as registered"
            f" {_ts(rule.job_registered_at)}, pg_cron in {rule.job_cron_database!r}{_zone(rule)}"
        )
    else:
        print("schedule: none (`pyrelease schedule` creates it; it needs pg_cron)")
    if rule is None:
        print("backlog: unknown until the migrations are applied")
    else:
        oldest = rule.oldest_expired_seconds
        age = f", oldest expired {_age(oldest)} ago" if rule.backlog and oldest is not None else ""
        print(f"backlog: {rule.backlog} expired reservation(s) not yet released{age}")
        finished, ago = rule.last_scheduled_run_finished_at, rule.last_scheduled_run_age_seconds
        last = f"{_ts(finished)} ({_age(ago)} ago)" if finished and ago is not None else "never"
        print(f"last scheduled run finished: {last}")
        print(f"counters: {_drift(rule.counter_drift or 0)}")
        print(f"event feed: {_feed(rule.event_feed_held_back_seconds or 0.0)}")
    if live is None:
        print("last pg_cron runs: not shown (only the owner and superusers read pg_cron's)")
    else:
        print("last pg_cron runs:" if live.runs else "last pg_cron runs: none")
        for r in live.runs:
            took = f" ({_age(r.end_time - r.start_time)})" if r.start_time and r.end_time else ""
            message = f" {one_line(r.return_message)}" if r.return_message else ""
            print(f"  {_ts(r.start_time)} {r.status}{took}{message}")
    print("last release runs:" if report.runs else "last release runs: none")
    for run_id, source, started, finished, released, failed, error in report.runs:
        end = _ts(finished) if finished else "unfinished"
        tail = f" error: {one_line(error)}" if error else ""
        counts = f"{released} released, {failed} failed{tail}"
        print(f"  #{run_id} {source} {_ts(started)} -> {end}: {counts}")
    if check and report.healthy and rule is not None:
        note = ""
        if rule.waiting_for_first_run and rule.job_schedule is not None:
            due = cron.next_run(rule.job_schedule, rule.checked_at, rule.job_timezone or cron.GMT)
            note = f" (waiting for the first run, due {_ts(due)})"
        print(f"health: ok{note}")


def _zone(rule: health.Rule | None) -> str:
    """Where pg_cron reads the schedule in a zone other than its default."""
    zone = rule.job_timezone if rule is not None else None
    return f", read in {zone}" if zone and zone != cron.GMT else ""


def _drift(drifted: int) -> str:
    if not drifted:
        return "exact"
    return (
        f"{drifted} project(s) drifted (rows written past the triggers);"
        " as the owner run SELECT real_estate.repair_counters()"
    )


def _feed(held_back: float) -> str:
    if not held_back:
        return "flowing"
    return (
        f"held back {_age(held_back)}: a transaction that may still commit an event id before"
        " the committed ones is open (consumers get them when it ends)"
    )


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S%z") if value else "-"


def _age(value: timedelta | float) -> str:
    total = value.total_seconds() if isinstance(value, timedelta) else value
    seconds = int(total)
    if seconds < 120:
        return f"{total:.1f}s"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1 or value > 2**31 - 1:
        raise argparse.ArgumentTypeError(f"must be between 1 and {2**31 - 1}, got {text}")
    return value


def _uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {text!r}") from None


class _Parser(argparse.ArgumentParser):
    """argparse, whose usage errors never show a password (they echo what they refuse)."""

    def error(self, message: str) -> NoReturn:
        super().error(redact(message))


SQL_HELP = (
    "print the psql script it would run on this database now, changing nothing"
    " (apply it as the owner: psql -X -v ON_ERROR_STOP=1 -f FILE)"
)
DSN_HELP = "libpq connection string or URL (default: $DATABASE_URL, else the PG* variables)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG, description="Release expired property reservations inside PostgreSQL."
    )
    parser.add_argument("--dsn", help=DSN_HELP)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    # --dsn is accepted after the command too (SUPPRESS: it does not reset the one before)
    dsn_after = _Parser(add_help=False)
    dsn_after.add_argument("--dsn", default=argparse.SUPPRESS, help=DSN_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], None], text: str) -> Any:
        p = sub.add_parser(name, help=text, description=text, parents=[dsn_after])
        p.set_defaults(func=func)
        return p

    p = add("migrate", cmd_migrate, "apply pending migrations (and schedule the job)")
    first = p.add_mutually_exclusive_group()
    first.add_argument(
        "--break-lock",
        action="store_true",
        help="first remove a migration lock left by a migration killed half-way",
    )
    first.add_argument("--sql", action="store_true", help=SQL_HELP)
    p.add_argument(
        "--no-schedule",
        action="store_true",
        help="do not register (or repair) the pg_cron job; migrate without it",
    )
    p = add("rollback", cmd_rollback, "roll back migrations (default: the last one)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--steps", type=_positive_int, metavar="N", help="default: 1")
    group.add_argument("--all", action="store_true", help="roll back every migration")
    p.add_argument("--sql", action="store_true", help=SQL_HELP)
    p = add("release", cmd_release, "release expired reservations now")
    p.add_argument("--batch-size", type=_positive_int, default=api.DEFAULT_BATCH_SIZE, metavar="N")
    p.add_argument(
        "--property-id", type=_uuid, metavar="UUID", help="release only this property, if expired"
    )
    p = add("status", cmd_status, "show the schedule, the last runs and the backlog")
    p.add_argument(
        "--check",
        action="store_true",
        help="exit non-zero when the job is missing or inactive, runs or releases are late,"
        " counters drifted or migrations are pending",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (docs/monitoring.md)")
    p = add("schedule", cmd_schedule, "create or update the pg_cron job")
    p.add_argument(
        "--cron",
        default=cron.DEFAULT_SCHEDULE,
        metavar="EXPR",
        help="pg_cron's schedule (default: %(default)s); '10 seconds' releases within seconds"
        " of expiry (pg_cron 1.5 or later, docs/pg_cron.md)",
    )
    p.add_argument(
        "--retention",
        default=cron.DEFAULT_RETENTION,
        metavar="INTERVAL",
        help="keep run logs this long (default: %(default)s)",
    )
    add("unschedule", cmd_unschedule, "remove the pg_cron job")
    p = add("watch", cmd_watch, "print each release event as it happens, until Ctrl-C")
    p.add_argument(
        "--after",
        type=_after,
        default=None,
        metavar="ID",
        help="first print the events after this event id (default: only new ones)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p = add(
        "grants",
        cmd_grants,
        "print the SQL a superuser runs so that a non-superuser ROLE can own pyrelease",
    )
    p.add_argument("--owner", required=True, metavar="ROLE")
    p.add_argument("--database", metavar="NAME", help="default: the database of --dsn")
    p.add_argument(
        "--cron-database",
        default=cron.DEFAULT_CRON_DATABASE,
        metavar="NAME",
        help="pg_cron's cron.database_name (default: %(default)s)",
    )
    p = add(
        "distribute",
        cmd_distribute,
        "migrate, then distribute the tables by workspace_id on a Citus coordinator",
    )
    p.add_argument(
        "--shard-count",
        type=_positive_int,
        metavar="N",
        help="shards per table (default: the server's citus.shard_count)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s", stream=sys.stderr)
    logging.getLogger(PROG).setLevel(logging.INFO)
    # yoyo logs a failed step with its traceback; the error reaches the user as one line.
    logging.getLogger("yoyo").propagate = False
    logging.getLogger("yoyo").addHandler(logging.NullHandler())
    for given in (*(sys.argv[1:] if argv is None else argv), os.environ.get("DATABASE_URL", "")):
        hide(given)  # whatever shape a connection string has, no output shows its password
    args = build_parser().parse_args(argv)
    try:
        args.dsn = resolve_dsn(args.dsn)
        args.func(args)
    except (PyreleaseError, psycopg.Error) as exc:  # a server error with no package type
        return _fail(first_line(exc))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    return 0


def _fail(message: str, code: int = 1) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
