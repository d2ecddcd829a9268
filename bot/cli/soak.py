"""`bot soak` (`make soak`): N concurrent visitors for M minutes against a full stack of its
own (the processes of `bot run`, on free loopback ports and a throw-away SQLite file, like
`make bench`); prints the figures and writes them to results/soak.md. Exit status 1 when a
target is missed."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import uuid
from typing import List, Optional

from bot import settings as settings_module
from bot import soak
from bot.paths import ROOT, VAR_DIR
from bot.stack import Stack, free_port

RESULTS = ROOT / "results"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "soak", help="many concurrent conversations for minutes: errors, lost events, memory"
    )
    add_arguments(parser)
    parser.set_defaults(handler=main)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=50, help="concurrent visitors (default 50)")
    parser.add_argument("--minutes", type=float, default=10, help="how long the load lasts (default 10)")
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds before the first memory sample (default: 10 %%, at most 60)"
    )
    parser.add_argument("--out", default=str(RESULTS / "soak.md"), help="where the Markdown report goes")


def main(args: argparse.Namespace) -> int:
    if args.users < 1 or args.minutes <= 0:
        print("bot soak: --users must be at least 1 and --minutes above 0", file=sys.stderr)
        return 2
    db_file = VAR_DIR / f"soak-{uuid.uuid4().hex[:6]}.db"
    settings = settings_module.load().replace(
        rasa_port=free_port(),
        actions_port=free_port(),
        web_port=free_port(),
        db_url=f"sqlite:///{db_file}",
    )
    print(f"Starting the stack (logs in {VAR_DIR / 'logs' / 'soak'}) ...", flush=True)
    try:
        with Stack(settings, log_dir=VAR_DIR / "logs" / "soak") as stack:
            stack.start_all()
            pids = {name: stack.procs[name].pid for name in soak.PROCESSES if name in stack.procs}
            print(f"{args.users} visitors for {args.minutes:g} min against {settings.web_url}", flush=True)
            result = soak.run(settings, pids, args.users, args.minutes * 60, warmup_seconds=args.warmup)
    finally:
        for path in (db_file, db_file.with_name(db_file.name + "-wal"), db_file.with_name(db_file.name + "-shm")):
            if path.exists():
                os.remove(path)
    load = os.getloadavg()
    note = (
        f"Machine: {os.cpu_count()} cores; load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
        " (1 / 5 / 15 min), shared with other work."
    )
    text = soak.report(result, when=f"measured {dt.date.today().isoformat()}", note=note)
    print(text)
    out = ROOT / args.out if not os.path.isabs(args.out) else args.out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"Written to {out}")
    return 0 if soak.passed(result) else 1


def cli(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.cli.soak", description=__doc__)
    add_arguments(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
