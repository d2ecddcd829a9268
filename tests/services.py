"""Real PostgreSQL and Redis servers for the tests, started on loopback and thrown away.

Debian's packages provide the binaries (`make test` installs them when missing). The
servers run from temporary directories on free ports, so nothing on the machine is touched.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

from bot.stack import free_port


def _postgres_bin(name: str):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@contextlib.contextmanager
def running_postgres(database: str = "bot_test") -> Iterator[str]:
    """A throw-away PostgreSQL server; yields the SQLAlchemy URL of a fresh database."""
    import sqlalchemy as sa

    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries are not installed (apt-get install postgresql)")
    prefix = []
    base = Path(tempfile.mkdtemp(prefix="bot-pg-"))
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as the postgres user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server as")
        os.chown(base, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
        db_user = "postgres"
    else:
        db_user = pwd.getpwuid(os.geteuid()).pw_name
    data, port = base / "data", free_port()
    subprocess.run(
        prefix + [initdb, "-D", str(data), "-U", db_user, "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        prefix
        + [
            pg_ctl,
            "-D",
            str(data),
            "-l",
            str(base / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-h 127.0.0.1 -p {port} -k {base}",
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        admin = sa.create_engine(f"postgresql://{db_user}@127.0.0.1:{port}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f"CREATE DATABASE {database}"))
        admin.dispose()
        yield f"postgresql://{db_user}@127.0.0.1:{port}/{database}"
    finally:
        subprocess.run(prefix + [pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


class RedisServer:
    """A throw-away Redis server without persistence on a fixed free port, which a fault
    test can stop and start again at the same address."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.base = Path(tempfile.mkdtemp(prefix="bot-redis-"))
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
            + ["--dir", str(self.base)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)


@contextlib.contextmanager
def running_redis() -> Iterator[str]:
    """A throw-away Redis server without persistence; yields its URL."""
    with redis_server() as server:
        yield server.url
