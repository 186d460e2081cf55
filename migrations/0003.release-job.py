"""
pyrelease 0003: the pg_cron job that runs the release every 5 minutes.

A Python step because, in the usual set-up, pg_cron lives in another database
(cron.database_name, by default `postgres`) and the job must be registered there. Without
pg_cron, nothing is scheduled and one line says how to enable it (`pyrelease schedule`).
Rolling back removes this database's job, and only it.
"""

import logging

from yoyo import step

__depends__ = {"0002.functions"}

log = logging.getLogger("pyrelease")


def apply_step(conn):
    from pyrelease.errors import PyreleaseError
    from pyrelease.cron import schedule

    try:
        with conn.transaction():  # a savepoint: a refusal leaves the migration intact
            job = schedule(conn)
    except PyreleaseError as exc:
        message = str(exc)
        if "no release schedule was created" not in message:
            message = f"no release schedule was created: {message}"
        log.warning("%s", message)
    else:
        log.info("scheduled %s (%s) in database %s", job.name, job.schedule, job.cron_database)


def rollback_step(conn):
    from pyrelease.cron import cron_setup, unschedule

    if cron_setup(conn) is not None:
        unschedule(conn)


steps = [step(apply_step, rollback_step)]
