"""`bot export-nlu [--out FILE]` and `bot export-conversations --format csv|json [--out FILE]`.

Both write redacted data only, and are recorded in the audit log (as user "cli").
`export-nlu` skips examples that are already in the training data (data/nlu/), so its output
can be added to data/nlu/ as a file of its own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.evaluation.sets import training_files
from bot.transcripts import db
from bot.transcripts import export as exporter
from bot.transcripts.queries import audit


def register(subparsers) -> None:
    nlu = subparsers.add_parser("export-nlu", help="relabelled messages as Rasa NLU YAML")
    nlu.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    nlu.add_argument(
        "--nlu-data",
        type=Path,
        nargs="*",
        default=None,
        help="NLU files whose examples are left out (default: data/nlu/*.yml)",
    )
    nlu.set_defaults(handler=export_nlu)
    conv = subparsers.add_parser("export-conversations", help="conversations as CSV or JSON (redacted)")
    conv.add_argument("--format", choices=("csv", "json"), default="json")
    conv.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    conv.set_defaults(handler=export_conversations)


def _write(body: str, out) -> None:
    if out is None:
        sys.stdout.write(body)
    else:
        Path(out).write_text(body, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)


def export_nlu(args: argparse.Namespace) -> int:
    existing = args.nlu_data if args.nlu_data is not None else training_files()
    with db.session_scope() as session:
        body = exporter.export_nlu(session, existing=existing)
        audit(session, "cli", "export_nlu", detail=str(args.out or "stdout"))
    _write(body, args.out)
    return 0


def export_conversations(args: argparse.Namespace) -> int:
    with db.session_scope() as session:
        body = exporter.export_conversations(session, args.format)
        audit(session, "cli", f"export_conversations_{args.format}", target="all", detail=str(args.out or "stdout"))
    _write(body, args.out)
    return 0
