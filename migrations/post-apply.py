"""
pyrelease's post-apply step, for DBAs who drive yoyo directly: the install core that
`pyrelease migrate` runs after the numbered migrations (pyrelease/install.py), with the same
strictness. Not transactional: the core commits the routines before it registers the job, as
under `pyrelease migrate`. yoyo runs this file after any `yoyo apply` that applied a migration.
"""

from yoyo import step

__transactional__ = False


def apply_step(conn):
    from pyrelease.install import install

    install(conn)


steps = [step(apply_step)]
