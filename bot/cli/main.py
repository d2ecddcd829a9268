"""Entry point of the `bot` command: one subcommand per module in bot/cli/."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from bot import settings as settings_module
from bot.cli import chat, export, purge, run, soak, staff
from bot.settings import SettingsError


def migrate(args: argparse.Namespace) -> int:
    """`bot migrate`: bring the transcripts schema (BOT_DB_URL) to the newest revision.

    `bot run` does this itself before it starts the servers; a deployment that starts
    them some other way runs this first. The servers only check the schema."""
    from bot.transcripts import db

    db.migrate(settings_module.load().db_url)
    print("The transcripts database is up to date.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot", description="Heroin-detox support assistant")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in (run, chat, staff, purge, export, soak):
        module.register(subparsers)
    subparsers.add_parser(
        "migrate", help="bring the transcripts database schema up to date (before starting the servers)"
    ).set_defaults(handler=migrate)
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
