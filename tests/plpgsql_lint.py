"""plpgsql_check over every PL/pgSQL routine pyrelease installs (`make lint`).

    python -m tests.plpgsql_lint ADMIN_DSN

Creates a scratch database, migrates it, runs plpgsql_check_function_tb on each routine with
every warning class on (trigger functions against their table and transition tables), prints
one line per finding and exits non-zero when there is any; drops the database.
"""

from __future__ import annotations

import re
import sys
import uuid

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

CHECK = """
SELECT p.oid::regprocedure::text, r.lineno, r.level, r.message, r.detail
  FROM pg_catalog.pg_proc AS p
  LEFT JOIN LATERAL (SELECT t.tgrelid FROM pg_catalog.pg_trigger AS t
                      WHERE t.tgfoid = p.oid ORDER BY t.tgname LIMIT 1) AS t ON true
 CROSS JOIN LATERAL plpgsql_check_function_tb(
           p.oid, coalesce(t.tgrelid, 0),
           oldtable => CASE WHEN t.tgrelid IS NOT NULL THEN 'old_rows' END,
           newtable => CASE WHEN t.tgrelid IS NOT NULL THEN 'new_rows' END,
           fatal_errors => false, other_warnings => true, extra_warnings => true,
           performance_warnings => true, security_warnings => true) AS r
 WHERE p.pronamespace = 'real_estate'::regnamespace
   AND p.prolang = (SELECT l.oid FROM pg_catalog.pg_language AS l WHERE l.lanname = 'plpgsql')
 ORDER BY 1, 2
"""

# purge_release_log deletes from pg_cron's tables only when pg_cron lives in the application
# database; where it does not, give the checker the two tables (as pg_cron defines them).
CRON_STUB = """
CREATE SCHEMA IF NOT EXISTS cron;
CREATE TABLE IF NOT EXISTS cron.job (jobid bigint, jobname text, database text);
CREATE TABLE IF NOT EXISTS cron.job_run_details (jobid bigint, start_time timestamptz);
"""


# The routines for Citus (distribute_tables, the shard-group release, ...) read Citus's catalog
# and call its functions only on a Citus coordinator, where tests/backends runs them; on a lint
# server without Citus, those objects' absence is not a finding.
CITUS_ONLY = re.compile(
    r'^(relation "pg_catalog\.pg_dist_\w+"|function pg_catalog\.(create_distributed_table'
    r"|create_distributed_function|get_shard_id_for_distribution_column"
    r"|truncate_local_data_after_distributing_table)\(.*\)) does not exist$"
)


def lint(admin_dsn: str) -> list[str]:
    import pyrelease

    name = f"pyrelease_lint_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = make_conninfo(admin_dsn, dbname=name)
    try:
        pyrelease.migrate(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
            if conn.execute("SELECT to_regclass('cron.job_run_details')").fetchone() == (None,):
                conn.execute(CRON_STUB)
            rows = conn.execute(CHECK).fetchall()
            citus = conn.execute("SELECT to_regclass('pg_catalog.pg_dist_partition')").fetchone()
        if citus == (None,):
            rows = [r for r in rows if not CITUS_ONLY.match(r[3])]
        pyrelease.unschedule(dsn)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    return [
        f"{routine} line {lineno}: {level}: {message}" + (f" ({detail})" if detail else "")
        for routine, lineno, level, message, detail in rows
    ]


def main(admin_dsn: str) -> int:
    findings = lint(admin_dsn)
    for line in findings:
        print(f"plpgsql_check: {line}")
    print(f"plpgsql_check: {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.plpgsql_lint ADMIN_DSN")
    sys.exit(main(sys.argv[1]))
