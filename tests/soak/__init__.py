"""Soak test of pyrelease: pgbench drives reservations, sales, cancellations, the
application's own writes and release calls against one database while pg_cron runs the
scheduled release every minute; afterwards every invariant must hold.

Run it with ``python -m tests.soak.run --dsn DSN --clients 8 --seconds 60``.
"""
