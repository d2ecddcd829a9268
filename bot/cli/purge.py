"""`bot purge --older-than 30d`: delete conversations whose last message is older than that.

Deletes the conversation's events and everything derived from it (review state, tags,
notes, relabelled messages); on SQLite the file is then VACUUMed so deleted text does not
linger in free pages. Meant for a schedule, e.g. cron:

    17 3 * * *  cd /srv/bot && .venv/bin/bot purge --older-than 30d

The web app also runs the same purge by itself every `BOT_PURGE_INTERVAL` seconds
(bot.transcripts.purge.run_on_schedule), so cron is only needed where it is turned off.
"""

from __future__ import annotations

import argparse
import sys

from bot import settings
from bot.transcripts import db
from bot.transcripts.purge import parse_age, purge_database


def register(subparsers) -> None:
    parser = subparsers.add_parser("purge", help="delete conversations older than the retention period")
    parser.add_argument(
        "--older-than", default=None, help="age like 30d, 12h, 2w (default: BOT_RETENTION_DAYS, 30 days)"
    )
    parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        age = parse_age(args.older_than or f"{settings.load().retention_days}d")
    except ValueError as error:
        print(f"bot purge: {error}", file=sys.stderr)
        return 2
    url = db.default_url()
    db.migrate(url)
    result = purge_database(url, age, "cli", dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{verb} {len(result.conversations)} conversation(s) last active before "
        f"{result.cutoff.isoformat(timespec='seconds')} ({result.events_deleted} events)"
    )
    return 0
