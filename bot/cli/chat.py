"""`bot chat` (make chat): talk to the assistant in the terminal.

Starts its own action server on a free port and runs `rasa shell` with the same
environment as the real stack, against a scratch SQLite file.
"""

from __future__ import annotations

import argparse
import subprocess

from bot import settings as settings_module
from bot.paths import ROOT, VAR_DIR
from bot.stack import RASA, Stack, free_port, latest_model, process_env


def register(subparsers) -> None:
    parser = subparsers.add_parser("chat", help="talk to the assistant in this terminal")
    parser.set_defaults(handler=chat)


def chat(args: argparse.Namespace) -> int:
    model = latest_model()
    if model is None:
        print("no trained model in models/: run `make train` first")
        return 2
    settings = settings_module.load().replace(actions_port=free_port(), db_url=f"sqlite:///{VAR_DIR / 'chat.db'}")
    with Stack(settings, log_dir=VAR_DIR / "logs" / "chat") as stack:
        stack.start_actions()
        return subprocess.call(
            [RASA, "shell", "--model", str(model), "--endpoints", "endpoints.yml"], cwd=ROOT, env=process_env(settings)
        )
