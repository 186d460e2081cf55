"""A real PgBouncer (Debian's, 1.18) in front of a test server, for the tests that prove the
API behind a pooler. Started on a free port in a temp dir of its own, as the postgres OS user
when root (PgBouncer refuses to run as root), and stopped afterwards."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def available() -> bool:
    return Path(PGBOUNCER).exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def pgbouncer(
    server_dsn: str, pool_mode: str, users: tuple[str, ...] = (), **settings: str
) -> Iterator[str]:
    """PgBouncer in `pool_mode` (transaction, session) in front of the server of
    `server_dsn`; yields the DSN of `server_dsn`'s database through it. It trusts the
    DSN's user and `users` (the test servers trust loopback)."""
    target = conninfo_to_dict(server_dsn)
    port = _free_port()
    base = Path(tempfile.mkdtemp(prefix="pyrelease-pgbouncer-", dir="/tmp"))
    base.chmod(0o777)
    config = {
        "listen_addr": "127.0.0.1",
        "listen_port": str(port),
        "unix_socket_dir": "",
        "auth_type": "trust",
        "auth_file": str(base / "users.txt"),
        "pool_mode": pool_mode,
        "default_pool_size": "4",
        "max_client_conn": "200",
        "logfile": str(base / "pgbouncer.log"),
        "pidfile": str(base / "pgbouncer.pid"),
        **settings,
    }
    host = target.get("host") or "127.0.0.1"
    databases = f"* = host={host} port={target.get('port', 5432)}\n"
    names = {str(target.get("user") or "postgres"), *users}
    (base / "users.txt").write_text("".join(f'"{name}" ""\n' for name in sorted(names)))
    (base / "users.txt").chmod(0o644)
    ini = base / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        + databases
        + "[pgbouncer]\n"
        + "".join(f"{k} = {v}\n" for k, v in config.items())
    )
    ini.chmod(0o644)
    command = [PGBOUNCER, "-q", str(ini)]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    dsn = make_conninfo(server_dsn, host="127.0.0.1", port=str(port))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with psycopg.connect(dsn, connect_timeout=2) as c:
                    c.execute("SELECT 1")
                break
            except psycopg.OperationalError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (
                        (base / "pgbouncer.log").read_text()
                        if (base / "pgbouncer.log").exists()
                        else ""
                    )
                    raise RuntimeError(f"pgbouncer did not start:\n{log}") from None
                time.sleep(0.1)
        yield dsn
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(base, ignore_errors=True)
