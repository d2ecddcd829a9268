"""Starts and stops the three processes of the product: Rasa server, action server, web app.

`bot run` (make run) and the test suite both use this module, so what the tests start is
exactly what a person runs. Every process listens on loopback only and gets its
configuration through the environment variables of `bot.settings.Settings`; secrets (the
Rasa API token) travel only there, never on a command line, where `ps` shows them.

The transcripts schema is migrated once, here, before any server starts; the servers
only check it (`bot.transcripts.db.migrations_run_elsewhere`). Each child runs in its own
session and is killed by the kernel when the process that started it dies, even by
SIGKILL (PR_SET_PDEATHSIG), so none outlives `bot run`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional
from urllib.parse import urlparse

from bot.paths import MODELS_DIR, ROOT, VAR_DIR
from bot.settings import Settings
from bot.settings import load as load_settings

PYTHON = sys.executable
RASA = str(Path(PYTHON).with_name("rasa"))

# Signals that stop `bot run` (bot/cli/run.py).
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
PR_SET_PDEATHSIG = 1


def child_setup(parent: int) -> Callable[[], None]:
    """preexec_fn of every child: die with the parent (SIGTERM when its spawner thread ends)."""
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

    def setup() -> None:
        if libc is not None:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os.kill(os.getpid(), signal.SIGKILL)

    return setup


# Forks every child (see Stack._spawn); its thread lives as long as this process.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bot-stack-spawner")
_MIGRATE_LOCK = threading.Lock()


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


def base_env() -> Dict[str, str]:
    """This process's environment, for a Rasa child: quiet, no telemetry, no access log."""
    env = dict(os.environ)
    env.update(
        TF_CPP_MIN_LOG_LEVEL="3",
        RASA_TELEMETRY_ENABLED="false",  # nothing about visitors' conversations leaves the machine
        # sanic's access lines name the client (IP, and the request line); Rasa and rasa_sdk
        # would write them at LOG_LEVEL_LIBRARIES=INFO or below
        SANIC_ACCESS_LOG="false",
    )
    return env


def process_env(settings: Settings) -> Dict[str, str]:
    """The environment every process of the stack runs with (endpoints.yml reads it)."""
    env = base_env()
    # Every setting, so each child reads exactly what this process resolved (the random
    # RASA_TOKEN above all); the rest is for Rasa, rasa_sdk and the endpoints files.
    env.update(settings.environment())
    env.update(
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        ACTION_ENDPOINT_URL=settings.actions_url,
        SANIC_HOST=settings.host,  # rasa_sdk binds 0.0.0.0 unless told otherwise
    )
    if settings.db_url.startswith("sqlite:///"):
        Path(settings.db_url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    if settings.redis_url:
        redis = urlparse(settings.redis_url)
        env.update(
            BOT_REDIS_HOST=redis.hostname or "127.0.0.1",
            BOT_REDIS_PORT=str(redis.port or 6379),
            BOT_REDIS_DB=(redis.path or "/0").strip("/") or "0",
        )
    return env


def endpoints_file(settings: Settings) -> str:
    """Single-server endpoints, or the scale-out ones (shared locks) when Redis is configured."""
    return "endpoints.scale-out.yml" if settings.redis_url else "endpoints.yml"


def free_port() -> int:
    """A loopback port nothing listens on now, for a stack beside a running `make run`."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def latest_model() -> Optional[Path]:
    models = sorted(MODELS_DIR.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def wait_until_up(url: str, timeout: float, proc: Optional[subprocess.Popen] = None) -> float:
    """Poll `url` until it answers; returns the seconds waited. Fails fast if `proc` died."""
    started = time.monotonic()
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return time.monotonic() - started
        except urllib.error.HTTPError:
            return time.monotonic() - started  # it answered, even if with an error status
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{url} did not come up within {timeout:.0f} s")
        time.sleep(0.5)


@dataclass
class Stack:
    """The running processes; use as a context manager or call `stop()`."""

    settings: Settings
    log_dir: Path = VAR_DIR / "logs"
    procs: Dict[str, subprocess.Popen] = field(default_factory=dict)

    def _spawn(self, name: str, cmd: List[str]) -> subprocess.Popen:
        """Start a child in its own session; it dies with this process (see module doc).

        The kernel kills a child when the *thread* that forked it ends, so every child is
        forked by one long-lived thread (`_SPAWNER`), whichever thread asks; the child is
        recorded in `procs` there too, so a signal to the asking thread cannot lose it."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = process_env(self.settings)
        parent = os.getpid()

        def spawn() -> subprocess.Popen:
            with open(self.log_dir / f"{name}.log", "ab") as log:
                proc = subprocess.Popen(
                    cmd,
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=child_setup(parent),
                )
            self.procs[name] = proc
            return proc

        return _SPAWNER.submit(spawn).result()

    def migrate(self) -> None:
        """Bring the transcripts schema up to date: once, before any server starts (the
        servers only check it). start_rasa and start_web call it; a no-op after the first."""
        from bot.transcripts import db

        with _MIGRATE_LOCK:  # two servers may be started at once, from two threads
            db.migrate(self.settings.db_url)

    def start_actions(self, timeout: float = 120) -> float:
        proc = self._spawn(
            "actions", [PYTHON, "-m", "rasa_sdk", "--actions", "actions", "--port", str(self.settings.actions_port)]
        )
        return wait_until_up(f"http://{self.settings.host}:{self.settings.actions_port}/health", timeout, proc)

    def start_rasa(self, model: Optional[Path] = None, timeout: float = 300) -> float:
        model = model or latest_model()
        if model is None:
            raise FileNotFoundError("no trained model in models/: run `make train` first")
        self.migrate()
        proc = self._spawn(
            "rasa",
            [
                PYTHON,
                "-m",
                "bot.rasa_server",  # `rasa run`, with the API token read from RASA_TOKEN
                "--model",
                str(model),
                "--enable-api",
                "--interface",
                self.settings.host,
                "--port",
                str(self.settings.rasa_port),
                "--endpoints",
                endpoints_file(self.settings),
                "--credentials",
                "credentials.yml",
            ],
        )
        return wait_until_up(f"{self.settings.rasa_url}/", timeout, proc)

    def start_web(self, timeout: float = 60) -> float:
        self.migrate()
        proc = self._spawn(
            "web",
            [PYTHON, "-m", "bot.stack", "web", "--host", self.settings.host, "--port", str(self.settings.web_port)],
        )
        return wait_until_up(f"{self.settings.web_url}/healthz", timeout, proc)

    def start_all(self) -> Stack:
        self.migrate()
        self.start_actions()
        self.start_rasa()
        if (ROOT / "bot" / "web" / "app.py").exists():
            self.start_web()
        return self

    def stop(self, name: Optional[str] = None, timeout: float = 20) -> None:
        """SIGTERM to every child's process group at once, SIGKILL to any still running
        after `timeout` seconds; a child leaves `procs` only once it has been reaped."""
        _SPAWNER.submit(lambda: None).result()  # a child being started is recorded first
        names = [name] if name else list(self.procs)
        procs = {n: self.procs[n] for n in names if n in self.procs}
        for proc in procs.values():
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for n, proc in procs.items():
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            self.procs.pop(n, None)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_web(argv: Optional[List[str]] = None) -> None:
    """The web app's process (`python -m bot.stack web --host H --port P`): uvicorn with
    `bot.web.app:create_app`, access log off, schema migrated beforehand by the stack."""
    import argparse

    import uvicorn

    from bot.transcripts import db

    parser = argparse.ArgumentParser(prog="python -m bot.stack web")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    db.migrations_run_elsewhere()
    # uvicorn would otherwise take X-Forwarded-For from any loopback peer: only a trusted
    # proxy may name the client (BOT_TRUST_PROXY), which the rate limits key on
    trust_proxy = load_settings().trust_proxy
    uvicorn.run(
        "bot.web.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        access_log=False,
        proxy_headers=trust_proxy,
    )


if __name__ == "__main__":
    if sys.argv[1:2] != ["web"]:
        sys.exit("usage: python -m bot.stack web --host HOST --port PORT")
    serve_web(sys.argv[2:])
