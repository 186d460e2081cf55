"""The owner's traps: a role other than the install's owner runs pyrelease and executes none
of the owner's code (CVE-2018-1058's lesson, applied to the owner).

In the matrix's non-superuser-owner configuration, the owner (holding exactly `pyrelease
grants`) of a database of its own lays every trap it can: an operator in public that beats
pg_catalog's, views and routines redefined to call its code (one of them as SECURITY INVOKER,
one that tries RESET ROLE), triggers on the tables pyrelease writes (yoyo's bookkeeping and
the run log), and a row-security policy. Each trap logs who ran it and, run by a superuser,
makes the owner SUPERUSER. Then a superuser runs every CLI command, and a member of
real_estate_monitor runs status, --check and --json: the owner stays NOSUPERUSER and no trap
ran in any session but the owner's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from factories import (
    drop_jobs,
    make_project,
    make_properties,
    make_workspace,
    monitor_login,
    scalar,
)
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import pyrelease

Config = Any  # tests/matrix/conftest.py's Config

TRAPS = """
CREATE TABLE public.trap_log (
    trap text, current_role_name text, session_role_name text,
    at timestamptz DEFAULT pg_catalog.clock_timestamp());
GRANT SELECT, INSERT ON public.trap_log TO PUBLIC;

-- Logs who runs it; run in a superuser's session (after RESET ROLE, should that session
-- have SET ROLE to the owner), makes the owner SUPERUSER.
CREATE FUNCTION public.pyrelease_trap(p_trap text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO public.trap_log (trap, current_role_name, session_role_name)
    VALUES (p_trap, current_user, session_user);
    IF session_user <> '{owner}' THEN
        BEGIN
            RESET ROLE;
            EXECUTE 'ALTER ROLE "{owner}" SUPERUSER';
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
    END IF;
    RETURN true;
END
$f$;
GRANT EXECUTE ON FUNCTION public.pyrelease_trap(text) TO PUBLIC;

CREATE FUNCTION public.trap_trigger() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM public.pyrelease_trap('trigger on ' || TG_TABLE_NAME);
    RETURN NULL;
END
$f$;

-- Operators that beat pg_catalog's for a varchar or name on the left.
CREATE FUNCTION public.trap_like(varchar, text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM public.pyrelease_trap('operator ~~(varchar, text)');
    RETURN pg_catalog.textlike($1::text, $2);
END
$f$;
CREATE OPERATOR public.~~ (LEFTARG = varchar, RIGHTARG = text, FUNCTION = public.trap_like);
CREATE FUNCTION public.trap_eq(varchar, text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM public.pyrelease_trap('operator =(varchar, text)');
    RETURN pg_catalog.texteq($1::text, $2);
END
$f$;
CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = text, FUNCTION = public.trap_eq);
CREATE FUNCTION public.trap_name_eq(name, text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM public.pyrelease_trap('operator =(name, text)');
    RETURN pg_catalog.texteq($1::text, $2);
END
$f$;
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = text, FUNCTION = public.trap_name_eq);

-- A redefined view: its functions run as whoever reads it.
CREATE OR REPLACE VIEW real_estate.release_backlog AS
SELECT pg_catalog.count(*)::bigint AS expired_reservations,
       pg_catalog.min(p.reserved_until) AS oldest_reserved_until,
       pg_catalog.now() - pg_catalog.min(p.reserved_until) AS oldest_age
  FROM real_estate.property AS p
 WHERE public.pyrelease_trap('view release_backlog');

-- Redefined routines, run as the caller.
CREATE OR REPLACE FUNCTION real_estate.release_events(p_after_id bigint DEFAULT 0,
                                                      p_limit integer DEFAULT 1000)
RETURNS SETOF real_estate.release_event LANGUAGE plpgsql SECURITY INVOKER AS $f$
BEGIN
    PERFORM public.pyrelease_trap('function release_events');
    RETURN QUERY SELECT * FROM real_estate.release_event AS e
                  WHERE e.id > p_after_id ORDER BY e.id LIMIT p_limit;
END
$f$;
CREATE OR REPLACE FUNCTION real_estate.check_invariants()
RETURNS TABLE (violation text, object_id text, detail text)
LANGUAGE plpgsql SECURITY INVOKER AS $f$
BEGIN
    PERFORM public.pyrelease_trap('function check_invariants');
END
$f$;
CREATE OR REPLACE FUNCTION real_estate.release_expired_reservations(
    p_batch_size integer DEFAULT 1000)
RETURNS integer LANGUAGE plpgsql SECURITY INVOKER AS $f$
BEGIN
    PERFORM public.pyrelease_trap('function release_expired_reservations');
    RETURN 0;
END
$f$;
CREATE OR REPLACE FUNCTION real_estate.is_distributed()
RETURNS boolean LANGUAGE plpgsql SECURITY INVOKER AS $f$
BEGIN
    PERFORM public.pyrelease_trap('function is_distributed');
    RETURN false;
END
$f$;

-- Triggers on the tables pyrelease writes.
CREATE TRIGGER trap AFTER INSERT OR UPDATE OR DELETE ON public._yoyo_migration
    FOR EACH STATEMENT EXECUTE FUNCTION public.trap_trigger();
CREATE TRIGGER trap AFTER INSERT OR UPDATE OR DELETE ON public._yoyo_log
    FOR EACH STATEMENT EXECUTE FUNCTION public.trap_trigger();
CREATE TRIGGER trap AFTER INSERT OR UPDATE OR DELETE ON public.yoyo_lock
    FOR EACH STATEMENT EXECUTE FUNCTION public.trap_trigger();
CREATE TRIGGER trap AFTER INSERT OR UPDATE OR DELETE ON real_estate.release_run
    FOR EACH STATEMENT EXECUTE FUNCTION public.trap_trigger();
CREATE TRIGGER trap AFTER INSERT OR UPDATE OR DELETE ON real_estate.property
    FOR EACH STATEMENT EXECUTE FUNCTION public.trap_trigger();

-- A policy: its expression runs as whoever reads the table (a superuser bypasses it).
ALTER TABLE real_estate.release_run ENABLE ROW LEVEL SECURITY;
CREATE POLICY trap ON real_estate.release_run
    USING (public.pyrelease_trap('policy on release_run'));

-- The health rule the exporter calls, redefined (status runs the package's own body).
DROP FUNCTION real_estate.release_health(boolean);
CREATE FUNCTION real_estate.release_health(p_counters boolean DEFAULT true)
RETURNS TABLE (healthy boolean) LANGUAGE plpgsql SECURITY INVOKER AS $f$
BEGIN
    PERFORM public.pyrelease_trap('function release_health');
    RETURN QUERY SELECT true;
END
$f$;
GRANT EXECUTE ON FUNCTION real_estate.release_health(boolean) TO real_estate_monitor;
"""

# A table status reads, turned into a view the monitor may read.
SCHEDULE_VIEW = """
ALTER TABLE real_estate.release_schedule RENAME TO release_schedule_kept;
CREATE VIEW real_estate.release_schedule AS
SELECT * FROM real_estate.release_schedule_kept
 WHERE public.pyrelease_trap('view release_schedule');
GRANT SELECT ON real_estate.release_schedule TO real_estate_monitor;
"""

STATUS = [["status"], ["status", "--check"], ["status", "--json"]]
COMMANDS = [
    *STATUS,
    ["release"],
    ["release", "--property-id", str(uuid.uuid4())],
    ["watch", "--after", "0"],
    ["migrate"],
    ["migrate", "--break-lock"],
    ["migrate", "--no-schedule"],
    ["rollback"],
    ["schedule"],
    ["unschedule"],
    ["grants", "--owner", "someone"],
    ["distribute"],
]


@pytest.fixture
def trapped(cfg: Config) -> Iterator[tuple[Config, str]]:
    """A database of its own in the owner configuration, migrated by the owner, traps laid;
    yields the configuration and the database's superuser DSN."""
    if cfg.role is None:
        pytest.skip("only the non-superuser owner configuration")
    name = f"pyrelease_trap_{uuid.uuid4().hex[:8]}"
    ident = sql.Identifier(name)
    role = sql.Identifier(cfg.role)
    with psycopg.connect(cfg.server.admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
        admin.execute(sql.SQL("GRANT CONNECT, CREATE ON DATABASE {} TO {}").format(ident, role))
    admin_dsn = cfg.server.dsn_for(name)
    owner_dsn = make_conninfo(cfg.dsn, dbname=name)
    try:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(role))
        pyrelease.migrate(owner_dsn, schedule=False)
        with psycopg.connect(owner_dsn, autocommit=True) as owner:
            ws = make_workspace(owner)
            make_properties(owner, ws, make_project(owner, ws), 2, "RESERVED")  # expired
            owner.execute(TRAPS.replace("{owner}", cfg.role))
            # the traps work: the owner's own use runs them (and changes nothing)
            owner.execute("SELECT * FROM real_estate.release_backlog")
        yield cfg, admin_dsn
    finally:
        drop_jobs(cfg.server, name)
        with psycopg.connect(cfg.server.admin_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def run_cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyrelease.cli", "--dsn", dsn, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def test_a_superuser_runs_every_command_and_executes_none_of_the_owners_code(
    trapped: tuple[Config, str],
) -> None:
    cfg, admin_dsn = trapped
    owner = cfg.role
    outcomes = {}
    for command in COMMANDS:
        try:
            done = run_cli(admin_dsn, *command)
        except subprocess.TimeoutExpired:
            outcomes[" ".join(command)] = ("timeout", "")
            continue
        lines = done.stderr.strip().splitlines()
        outcomes[" ".join(command)] = (done.returncode, lines[-1] if lines else "")
        assert "Traceback" not in done.stderr, (command, done.stderr)
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        superuser = scalar(admin, "SELECT rolsuper FROM pg_roles WHERE rolname = %s", (owner,))
        ran = admin.execute(
            "SELECT trap, current_role_name, session_role_name FROM public.trap_log"
            " WHERE session_role_name <> %s ORDER BY at",
            (owner,),
        ).fetchall()
    assert (superuser, ran) == (False, []), outcomes
    # What must run the owner's code refuses in one line naming the role to connect as;
    # status reads, and tells its verdict; what runs no owner code works.
    refusal = f"connect as {owner!r}"
    owners = ("release", "watch --after 0", "migrate", "rollback", "schedule", "unschedule")
    for command in (*owners, "distribute"):
        code, line = outcomes[command]
        assert code == 1 and refusal in line, (command, outcomes[command])
    assert outcomes["status"][0] == 0, outcomes["status"]
    assert outcomes["status --check"][0] in (0, 1), outcomes["status --check"]
    assert outcomes["status --json"][0] == 0, outcomes["status --json"]
    assert outcomes["grants --owner someone"][0] == 0, outcomes["grants --owner someone"]


def test_a_monitor_runs_status_and_executes_none_of_the_owners_code(
    trapped: tuple[Config, str],
) -> None:
    """A member of real_estate_monitor (and nothing else) runs status, --check and --json:
    refused in one line while a policy or a view of the owner's stands in the way, a verdict
    otherwise; no trap runs in its session (the owner's redefined release_health() neither:
    status runs the package's own body)."""
    cfg, admin_dsn = trapped
    owner_dsn = make_conninfo(cfg.dsn, dbname=conninfo_to_dict(admin_dsn)["dbname"])

    def status_as(monitor: str) -> dict[str, tuple[int, str]]:
        outcomes = {}
        for command in STATUS:
            done = run_cli(monitor, *command)
            assert "Traceback" not in done.stderr, (command, done.stderr)
            outcomes[" ".join(command)] = (done.returncode, done.stderr.strip())
        return outcomes

    with monitor_login(admin_dsn) as monitor:
        session = conninfo_to_dict(monitor)["user"]
        # the policy on release_run: its expression would run as the monitor
        for command, (code, line) in status_as(monitor).items():
            assert code == 1, (command, line)
            assert "real_estate.release_run has row-level security" in line, (command, line)
        with psycopg.connect(owner_dsn, autocommit=True) as owner:
            owner.execute("ALTER TABLE real_estate.release_run DISABLE ROW LEVEL SECURITY")
        verdicts = status_as(monitor)
        assert verdicts["status"][0] == 0 and verdicts["status --json"][0] == 0, verdicts
        assert verdicts["status --check"][0] in (0, 1), verdicts
        with psycopg.connect(owner_dsn, autocommit=True) as owner:
            owner.execute(SCHEDULE_VIEW)
        for command, (code, line) in status_as(monitor).items():
            assert code == 1, (command, line)
            assert "real_estate.release_schedule is not a plain table" in line, (command, line)
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            ran = admin.execute(
                "SELECT trap FROM public.trap_log WHERE session_role_name = %s", (session,)
            ).fetchall()
            superuser = scalar(
                admin, "SELECT rolsuper FROM pg_roles WHERE rolname = %s", (cfg.role,)
            )
    assert (ran, superuser) == ([], False)


def test_set_role_is_no_boundary(trapped: tuple[Config, str]) -> None:
    """A superuser session that SETs ROLE to the owner is still not the owner."""
    cfg, admin_dsn = trapped
    as_owner = make_conninfo(admin_dsn, options=f"-c role={cfg.role}")
    done = run_cli(as_owner, "release")
    assert done.returncode == 1, done.stderr
    assert f"connect as {cfg.role!r}" in done.stderr
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        assert (
            scalar(
                admin,
                "SELECT count(*) FROM public.trap_log WHERE session_role_name <> %s",
                (cfg.role,),
            )
            == 0
        )
