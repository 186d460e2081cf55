"""What every configuration of the matrix must do (see conftest.py for the configurations):
reserve, release with exact counters, the scheduled procedure, counter repair, a real pg_cron
tick that succeeds (with the owner's `status --check` healthy after it; on a schedule in
seconds, the ticks after it that find nothing leave only the heartbeat), and a real run of
what trims pg_cron's run history (the purge job, or the run itself when pg_cron lives in the
application database)."""

from __future__ import annotations

import contextlib
import io
import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from factories import (
    assert_counters_exact,
    available_plots,
    make_project,
    make_properties,
    make_workspace,
    scalar,
)

import pyrelease
from pyrelease.cli import main

Config = Any  # tests/matrix/conftest.py's Config (conftest modules are not importable)
Tick = Any


def _connect(cfg: Config) -> psycopg.Connection[Any]:
    # (the tests' own statements unprepared too: behind PgBouncer's transaction pooling)
    return psycopg.connect(cfg.dsn, autocommit=True, prepare_threshold=None)


def test_reserve_release_and_counters(cfg: Config) -> None:
    with _connect(cfg) as c:
        ws = make_workspace(c)
        project = make_project(c, ws)
        [free, *_] = make_properties(c, ws, project, 3)
        assert pyrelease.release_expired(c) == 0  # nothing expired: no run row either
        make_properties(c, ws, project, 4, "RESERVED")  # expired
        assert available_plots(c, project) == 3
        pyrelease.reserve(c, free, free, ttl=timedelta(hours=1))
        assert available_plots(c, project) == 2
        assert pyrelease.release_expired(c) == 4
        assert available_plots(c, project) == 6
        assert pyrelease.release_reservation(c, free) is False
        assert_counters_exact(c)
        assert scalar(c, "SELECT count(*) FROM real_estate.check_invariants()") == 0
        assert c.execute(
            "SELECT released, failed, error FROM real_estate.release_run"
        ).fetchall() == [(4, 0, None)]


def test_scheduled_procedure(cfg: Config) -> None:
    with _connect(cfg) as c:
        ws = make_workspace(c)
        project = make_project(c, ws)
        make_properties(c, ws, project, 250, "RESERVED")
        before = scalar(c, "SELECT coalesce(max(id), 0) FROM real_estate.release_run")
        # Batches of 10: slices of 40 rows, so the run reads its backlog slice by slice.
        c.execute("CALL real_estate.run_release_job(p_batch_size => 10)")
        rows = c.execute(
            "SELECT source, released, failed, finished_at IS NOT NULL FROM real_estate.release_run"
            " WHERE id > %s",
            (before,),
        ).fetchall()
        assert rows == [("pg_cron", 250, 0, True)]
        assert available_plots(c, project) == 250
        assert_counters_exact(c)


def test_repair_counters(cfg: Config) -> None:
    with _connect(cfg) as c:
        ws = make_workspace(c)
        project = make_project(c, ws)
        make_properties(c, ws, project, 2)
    with psycopg.connect(cfg.admin_dsn, autocommit=True) as admin, admin.transaction():
        # a replica-mode bulk load (superuser only): rows past the triggers
        admin.execute("SET LOCAL session_replication_role = replica")
        make_properties(admin, ws, project, 3)
    with _connect(cfg) as c:
        assert available_plots(c, project) == 2
        assert scalar(c, "SELECT real_estate.repair_counters()") >= 1
        assert available_plots(c, project) == 5
        assert_counters_exact(c)


def test_grants_hold_no_superuser_anywhere(cfg: Config) -> None:
    if cfg.role is None:
        pytest.skip("only the non-superuser owner configuration")
    with _connect(cfg) as c:
        row = c.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row == (False, False, False)
        owner = scalar(
            c, "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'real_estate'"
        )
        assert owner == cfg.role


def test_real_tick(cfg: Config, ticks: dict[str, Tick | str]) -> None:
    tick = ticks[cfg.name]
    if isinstance(tick, str):
        pytest.fail(tick)
    cron_dsn = cfg.server.dsn_for(cfg.server.cron_database)
    status = run_status = message = None
    with _connect(cfg) as c, psycopg.connect(cron_dsn, autocommit=True) as cron:
        while True:
            row = cron.execute(
                "SELECT status, return_message FROM cron.job_run_details WHERE jobid = %s"
                " AND runid <> %s ORDER BY start_time DESC LIMIT 1",
                (tick.jobid, tick.old_runid),
            ).fetchone()
            run_status, message = row if row else (None, None)
            status = scalar(  # after the run's status: a finished run's release is visible
                c, "SELECT status FROM real_estate.property WHERE id = %s", (tick.property_id,)
            )
            if run_status in ("succeeded", "failed") or time.monotonic() > tick.deadline:
                break  # a run finished (released or not), or none came in time
            time.sleep(1)
        assert (status, run_status) == ("AVAILABLE", "succeeded"), message
        unfinished = scalar(
            c,
            "SELECT count(*) FROM real_estate.release_run"
            " WHERE source = 'pg_cron' AND finished_at IS NULL",
        )
        assert unfinished == 0
        assert available_plots(c, tick.project_id) == 1
        assert_counters_exact(c)
        if tick.schedule.endswith("seconds"):
            # the ticks that follow find nothing: the heartbeat moves, the log does not grow
            runs = scalar(c, "SELECT count(*) FROM real_estate.release_run")
            later = _later_run(cron, tick)
            assert later == "succeeded"
            finished = scalar(c, "SELECT finished_at FROM real_estate.release_heartbeat")
            assert scalar(c, "SELECT count(*) FROM real_estate.release_run") == runs
            assert finished > scalar(c, "SELECT max(finished_at) FROM real_estate.release_run")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--dsn", cfg.dsn, "status", "--check"])
    assert code == 0, err.getvalue()
    assert out.getvalue().splitlines()[-1] == "health: ok"


def _later_run(cron: psycopg.Connection[Any], tick: Tick) -> str | None:
    """The status of a run of the tick's job that started after its last one finished
    (None when none finished before the tick's deadline)."""
    after = scalar(
        cron,
        "SELECT max(end_time) FROM cron.job_run_details WHERE jobid = %s AND status = 'succeeded'",
        (tick.jobid,),
    )
    while True:
        row = cron.execute(
            "SELECT status FROM cron.job_run_details WHERE jobid = %s AND start_time > %s"
            " AND status IN ('succeeded', 'failed') ORDER BY start_time LIMIT 1",
            (tick.jobid, after),
        ).fetchone()
        if row is not None or time.monotonic() > tick.deadline:
            return str(row[0]) if row else None
        time.sleep(1)


def test_real_purge_trims_pg_cron_s_run_history(cfg: Config, ticks: dict[str, Tick | str]) -> None:
    """pg_cron keeps a row per run in cron.job_run_details (8,640 a day at 10 seconds): the
    purge job (as its owner registered it) or, when pg_cron lives in the application
    database, the scheduled run itself trims the release job's rows older than the
    retention, and only those."""
    tick = ticks[cfg.name]
    if isinstance(tick, str):
        pytest.fail(tick)
    trimmer = tick.purge_jobid if tick.purge_jobid is not None else tick.jobid
    cron_dsn = cfg.server.dsn_for(cfg.server.cron_database)
    with psycopg.connect(cron_dsn, autocommit=True) as cron:
        while True:
            row = cron.execute(
                "SELECT status, return_message FROM cron.job_run_details WHERE jobid = %s"
                " AND status IN ('succeeded', 'failed') ORDER BY start_time DESC LIMIT 1",
                (trimmer,),
            ).fetchone()
            if row is not None or time.monotonic() > tick.deadline:
                break
            time.sleep(1)
        assert row is not None and row[0] == "succeeded", row
        left = cron.execute(
            "SELECT runid = %s FROM cron.job_run_details WHERE jobid = %s",
            (tick.old_runid, tick.jobid),
        ).fetchall()
    assert left and (True,) not in left  # the old run trimmed, the recent ones kept
