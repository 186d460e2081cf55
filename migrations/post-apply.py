"""
pyrelease's post-apply step, for DBAs who drive yoyo directly (`pyrelease migrate` runs the
same function itself, on every migrate): install plpgsql/'s routines, triggers and views
when their source changed, then register the pg_cron job when it is missing.
yoyo runs this file after any `yoyo apply` that applied a migration.
"""

from yoyo import step


def apply_step(conn):
    from pyrelease.install import post_apply

    post_apply(conn)


steps = [step(apply_step)]
