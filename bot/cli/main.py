"""Entry point of the `bot` command: one subcommand per module in bot/cli/."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from bot.cli import chat, export, purge, run, staff
from bot.settings import SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot", description="Heroin-detox support assistant")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in (run, chat, staff, purge, export):
        module.register(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except SettingsError as error:
        # a mistyped variable deserves one line naming it, not a traceback
        print(f"bot {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
