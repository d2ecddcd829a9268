"""`bot run`: start Rasa, the action server and the web app on loopback, print the URL.

Whatever stops it (Ctrl+C, SIGTERM from a supervisor or `timeout`, SIGHUP from a closed
terminal, any of them to the whole process group, as often as they come), every child is
stopped: the first signal starts the stop, later ones are ignored until it is done. If
`bot run` itself is killed outright, the kernel kills the children (see bot.stack).
"""

from __future__ import annotations

import argparse
import signal
import time
from types import FrameType
from typing import Optional

from bot import settings as settings_module
from bot.stack import STOP_SIGNALS, Stack


class StopRequested(BaseException):
    """A stop signal arrived (a BaseException, like KeyboardInterrupt, so that no
    `except Exception` on the way swallows it)."""


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", help="start the whole product on loopback")
    parser.set_defaults(handler=run)


def _ignore_stop_signals() -> None:
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)


def _request_stop(signum: int, frame: Optional[FrameType]) -> None:
    # The first signal interrupts whatever runs (start-up included); every later one is
    # ignored, so none can interrupt Stack.stop() half-way. Raised at most once per run.
    _ignore_stop_signals()
    raise StopRequested(signal.Signals(signum).name)


def _stop(stack: Stack) -> None:
    while True:
        try:
            _ignore_stop_signals()
            stack.stop()
            return
        except StopRequested:  # the first signal landed in here: stop again, it cannot recur
            continue


def run(args: argparse.Namespace) -> int:
    settings = settings_module.load()
    stack = Stack(settings)
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, _request_stop)
    try:
        print("Migrating, then starting the action server, Rasa (about a minute) and the web app…", flush=True)
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
    except StopRequested as stop:
        print(f"\n{stop}: stopping…", flush=True)
        return 0
    finally:
        _stop(stack)
