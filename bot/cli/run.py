"""`bot run`: start Rasa, the action server and the web app on loopback, print the URL."""

from __future__ import annotations

import argparse
import signal
import time

from bot import settings as settings_module
from bot.stack import Stack


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", help="start the whole product on loopback")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_module.load()
    stack = Stack(settings)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        print("Starting the action server, Rasa (about a minute) and the web app…", flush=True)
        stack.start_all()
        print(f"\nReady. Chat in your browser:   {settings.web_url}/", flush=True)
        print(f"Staff console:                 {settings.web_url}/staff", flush=True)
        print(f"Rasa REST channel (loopback):  {settings.rasa_webhook_url}", flush=True)
        print(f"Logs: {stack.log_dir}   Stop with Ctrl+C.", flush=True)
        while all(p.poll() is None for p in stack.procs.values()):
            time.sleep(1)
        dead = [n for n, p in stack.procs.items() if p.poll() is not None]
        print(f"Stopped because {', '.join(dead)} exited; see {stack.log_dir}.", flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()
