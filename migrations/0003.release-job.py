"""
pyrelease 0003: the pg_cron job that runs the release every 5 minutes.

The job is (re)registered by the post-apply step (pyrelease/install.py) on every migrate, after
the routines it calls exist, so that a job that is missing or was altered converges back.
This migration marks the point from which it exists; rolling it back removes this
database's job, and only it.
"""

from yoyo import step

__depends__ = {"0002.functions"}


def apply_step(conn):
    pass


def rollback_step(conn):
    from pyrelease.cron import cron_setup, unschedule

    if cron_setup(conn) is not None:
        unschedule(conn)


steps = [step(apply_step, rollback_step)]
