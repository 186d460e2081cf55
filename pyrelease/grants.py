"""`pyrelease grants --owner ROLE`: the exact SQL a DBA runs, as a superuser, so that a role
that is not superuser (and has no CREATEROLE or CREATEDB) can migrate, own the objects and
the pg_cron job, and have pg_cron's ticks succeed. A psql script: its `\\connect` lines move
between the application database and pg_cron's database. Re-runnable."""

from __future__ import annotations

from .errors import InvalidArgument

ROLES = ("real_estate_reader", "real_estate_app", "real_estate_monitor")
# What pyrelease.cron calls in pg_cron's database (pg_cron 1.4 revokes them from PUBLIC).
CRON_FUNCTIONS = (
    "cron.schedule_in_database(text, text, text, text, text, boolean)",
    "cron.alter_job(bigint, text, text, text, text, boolean)",
    "cron.unschedule(bigint)",
)


def ident(name: str) -> str:
    """A SQL identifier, always quoted."""
    return '"' + name.replace('"', '""') + '"'


# Role specifications PostgreSQL reads as something else than a role of that name, even
# quoted ("public" is PUBLIC), or refuses as role names; pg_* are the system's roles.
RESERVED_ROLES = ("public", "none", "current_user", "session_user", "current_role")
# psql's \\connect reads a database name like these as a connection string (libpq's URI
# prefixes, any "="), whatever the quoting.
CONNSTRING_PREFIXES = ("postgresql://", "postgres://")


def _psql_arg(name: str) -> str:
    """A psql meta-command argument: single-quoted, quotes doubled, backslashes escaped, and a
    line break written as psql's \\n or \\r escape (a raw one would end the meta-command)."""
    escaped = name.replace("\\", "\\\\").replace("'", "''")
    return "'" + escaped.replace("\n", "\\n").replace("\r", "\\r") + "'"


def grants_sql(owner: str, database: str, cron_database: str = "postgres") -> str:
    for label, value in (
        ("owner", owner),
        ("database", database),
        ("cron database", cron_database),
    ):
        if not value or "\x00" in value or len(value.encode()) > 63:
            raise InvalidArgument(f"invalid {label} name {value!r}")
    if owner.lower() in RESERVED_ROLES or owner.startswith("pg_"):
        raise InvalidArgument(
            f"owner {owner!r} is not a role PostgreSQL grants to by that name"
            " (PUBLIC, CURRENT_USER, SESSION_USER, CURRENT_ROLE, NONE and pg_* are reserved):"
            " name the role that will own pyrelease"
        )
    for value in (database, cron_database):
        if "=" in value or value.startswith(CONNSTRING_PREFIXES):
            raise InvalidArgument(
                f"database name {value!r} is read by psql's \\connect as a connection string"
                " ('=' or a postgresql:// prefix): not supported"
            )
    o, db = ident(owner), ident(database)
    lines = [
        f"-- pyrelease: grants for owner {owner!r} of database {database!r},"
        f" pg_cron in {cron_database!r}.",
        "-- Run as a superuser with psql -v ON_ERROR_STOP=1 -f FILE (re-runnable).",
        "",
        "-- 1. Once per server: the NOLOGIN roles that pyrelease grants to (the owner then",
        "--    needs no CREATEROLE; migrations 0005 and 0012 use them as they are).",
        "DO $$",
        "BEGIN",
    ]
    for role in ROLES:
        lines.append(
            f"    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '{role}') THEN"
        )
        lines.append(f"        CREATE ROLE {role} NOLOGIN;")
        lines.append("    END IF;")
    lines += [
        "    IF NOT pg_catalog.pg_has_role('real_estate_app', 'real_estate_reader', 'MEMBER') THEN",
        "        GRANT real_estate_reader TO real_estate_app;",
        "    END IF;",
        "END",
        "$$;",
        "",
        "-- 2. The application database: the owner creates schema real_estate there and",
        "--    yoyo's bookkeeping tables in schema public.",
        f"GRANT CONNECT, CREATE ON DATABASE {db} TO {o};",
        "--    Members of real_estate_monitor run `pyrelease status` and the exporter here.",
        f"GRANT CONNECT ON DATABASE {db} TO real_estate_monitor;",
        f"\\connect {_psql_arg(database)}",
        f"GRANT USAGE, CREATE ON SCHEMA public TO {o};",
    ]
    if cron_database not in ("postgres", database):
        lines += [
            "",
            "-- pg_cron is not in `postgres`: the owner reads cron.database_name to find it.",
            f"GRANT pg_read_all_settings TO {o};",
        ]
    lines += [
        "",
        "-- 3. pg_cron's database: register, re-point and remove its own jobs (pg_cron's row",
        "--    security shows it only its own jobs and run history; the ticks run as the owner).",
        f"GRANT CONNECT ON DATABASE {ident(cron_database)} TO {o};",
        f"\\connect {_psql_arg(cron_database)}",
        f"GRANT USAGE ON SCHEMA cron TO {o};",
        f"GRANT EXECUTE ON FUNCTION {', '.join(CRON_FUNCTIONS)} TO {o};",
    ]
    return "\n".join(lines) + "\n"
