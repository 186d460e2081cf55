"""
pyrelease's install marker, written by `make schema` (tests/schema_dump.py): never edit it.

Its id is a digest of plpgsql/ and of the numbered migrations' ids: a release that changes
either brings a new marker, so that `yoyo apply` has a migration to run even when the release
has no numbered one. Its step is the install core that `pyrelease migrate` runs after the
numbered migrations (pyrelease/install.py): the routines from plpgsql/ when they changed,
then the release job. Not transactional: the core commits the routines before it registers
the job, as under `pyrelease migrate`. A failure leaves the marker pending: the next
`yoyo apply` runs it again. Rolling it back changes nothing in the database: the next
`yoyo apply` runs it again.
"""

from yoyo import step

__depends__ = {"0014.release-heartbeat"}
__transactional__ = False


def apply_step(conn):
    from pyrelease.migrations import apply_marker

    apply_marker(conn, "install.7c1106e67e1f1ce8")


steps = [step(apply_step)]
