"""Starts and stops the three processes of the product: Rasa server, action server, web app.

`bot run` (make run) and the test suite both use this module, so what the tests start is
exactly what a person runs. Every process listens on loopback only and gets its
configuration through the environment variables of `bot.settings.Settings`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional
from urllib.parse import urlparse

from bot.paths import MODELS_DIR, ROOT, VAR_DIR
from bot.settings import Settings

PYTHON = sys.executable
RASA = str(Path(PYTHON).with_name("rasa"))


def process_env(settings: Settings) -> Dict[str, str]:
    """The environment every process of the stack runs with (endpoints.yml reads it)."""
    env = dict(os.environ)
    # Every setting, so each child reads exactly what this process resolved (the random
    # RASA_TOKEN above all); the rest is for Rasa, rasa_sdk and the endpoints files.
    env.update(settings.environment())
    env.update(
        TF_CPP_MIN_LOG_LEVEL="3",
        RASA_TELEMETRY_ENABLED="false",  # nothing about visitors' conversations leaves the machine
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
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=process_env(self.settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def start_actions(self, timeout: float = 120) -> float:
        proc = self._spawn(
            "actions", [PYTHON, "-m", "rasa_sdk", "--actions", "actions", "--port", str(self.settings.actions_port)]
        )
        return wait_until_up(f"http://{self.settings.host}:{self.settings.actions_port}/health", timeout, proc)

    def start_rasa(self, model: Optional[Path] = None, timeout: float = 300) -> float:
        model = model or latest_model()
        if model is None:
            raise FileNotFoundError("no trained model in models/: run `make train` first")
        proc = self._spawn(
            "rasa",
            [
                RASA,
                "run",
                "--model",
                str(model),
                "--enable-api",
                "--auth-token",
                self.settings.rasa_token,
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
        proc = self._spawn(
            "web",
            [
                PYTHON,
                "-m",
                "uvicorn",
                "bot.web.app:create_app",
                "--factory",
                "--host",
                self.settings.host,
                "--port",
                str(self.settings.web_port),
                "--no-access-log",
            ],
        )
        return wait_until_up(f"{self.settings.web_url}/healthz", timeout, proc)

    def start_all(self) -> Stack:
        self.start_actions()
        self.start_rasa()
        if (ROOT / "bot" / "web" / "app.py").exists():
            self.start_web()
        return self

    def stop(self, name: Optional[str] = None) -> None:
        names = [name] if name else list(self.procs)
        for n in names:
            proc = self.procs.pop(n, None)
            if proc is None or proc.poll() is not None:
                continue
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
