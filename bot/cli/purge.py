"""`bot purge --older-than 30d`: delete conversations whose last message is older than that.

Deletes the conversation's events and everything derived from it (review state, tags,
notes, relabelled messages); on SQLite the file is then VACUUMed so deleted text does not
linger in free pages. Meant for a schedule, e.g. cron:

    17 3 * * *  cd /srv/bot && .venv/bin/bot purge --older-than 30d
"""

from __future__ import annotations

import argparse
import sys

from bot import settings
from bot.transcripts import db
from bot.transcripts.purge import parse_age, purge


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
    with db.session_scope(url) as session:
        result = purge(session, age, dry_run=args.dry_run)
        if not args.dry_run and result.conversations:
            from bot.transcripts.queries import audit

            audit(
                session,
                "cli",
                "purge",
                detail=f"{len(result.conversations)} conversations "
                f"older than {result.cutoff.isoformat(timespec='seconds')}",
            )
    if not args.dry_run and result.conversations and url.startswith("sqlite"):
        with db.get_engine(url).connect() as connection:
            connection.exec_driver_sql("VACUUM")
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{verb} {len(result.conversations)} conversation(s) last active before "
        f"{result.cutoff.isoformat(timespec='seconds')} ({result.events_deleted} events)"
    )
    return 0
