"""The bot `rasa init` makes, built once under build/stock-bot and run beside nothing else:
`make bench`'s baseline (bot/cli/bench.py), same Rasa from the same venv."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, TextIO

from bot.paths import ROOT
from bot.stack import base_env, child_setup

STOCK_DIR = ROOT / "build" / "stock-bot"


def build_stock_bot(rasa: str, folder: Path = STOCK_DIR, log: Optional[TextIO] = sys.stderr) -> float:
    """`rasa init` once (which trains the model there); the seconds it took, kept beside it
    so later runs reuse both."""
    seconds_file = folder / "train_seconds.txt"
    if seconds_file.exists() and list((folder / "models").glob("*.tar.gz")):
        return float(seconds_file.read_text())
    if folder.exists():  # a build that stopped half-way: `rasa init --no-prompt` wants it empty
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if log is not None:
        log.write(f"building the stock bot in {folder} (rasa init --no-prompt, then its training) ...\n")
        log.flush()
    started = time.perf_counter()
    with open(folder.parent / "stock-bot-init.log", "wb") as out:
        subprocess.run(
            [rasa, "init", "--no-prompt", "--init-dir", str(folder)],
            env=base_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    seconds = time.perf_counter() - started
    seconds_file.write_text(f"{seconds:.1f}\n")
    return seconds


def stock_needs_action_server(folder: Path = STOCK_DIR) -> bool:
    """Whether the stock rules or stories name an action that is not a response."""
    import yaml

    for name in ("rules.yml", "stories.yml"):
        data = yaml.safe_load((folder / "data" / name).read_text()) or {}
        for block in data.get("rules", []) + data.get("stories", []):
            for step in block.get("steps", []):
                action = step.get("action")
                if action and not action.startswith("utter_") and action != "action_listen":
                    return True
    return False


@dataclass
class StockBot:
    """`rasa run --enable-api` in the stock bot's folder; a context manager."""

    rasa: str
    port: int
    folder: Path = STOCK_DIR
    log_file: Optional[Path] = None
    proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/webhooks/rest/webhook"

    def start(self) -> None:
        log_file = self.log_file or (self.folder.parent / "stock-bot-run.log")
        with open(log_file, "ab") as log:
            self.proc = subprocess.Popen(
                [self.rasa, "run", "--enable-api", "--interface", "127.0.0.1", "--port", str(self.port)],
                cwd=self.folder,
                env=base_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=child_setup(os.getpid()),  # dies with the bench, even by SIGKILL
            )

    def stop(self, timeout: float = 20) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> StockBot:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
