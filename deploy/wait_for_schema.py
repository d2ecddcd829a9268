"""Init container of the Rasa server and the web app: wait until `bot migrate` has run.

The schema is migrated once, by the `migrate` Job (deploy/k8s/migrate-job.yaml), never by
the servers: several replicas migrating at once would race on the same DDL. The servers
only check the revision and stop if it is behind, so without this wait every pod of a
fresh release would crash-loop until the Job finished. Here the pod waits instead, and
`kubectl apply -k deploy/k8s` can create everything at once.

    python deploy/wait_for_schema.py [--timeout SECONDS]     (BOT_DB_URL from the environment)
"""

from __future__ import annotations

import argparse
import sys
import time

POLL_SECONDS = 5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wait_for_schema")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)

    from bot.transcripts import db

    deadline = time.monotonic() + args.timeout
    while True:
        try:
            db.check_current()
            print("The transcripts schema is current.", flush=True)
            return 0
        except Exception as error:  # noqa: BLE001 - not current, or the database not up yet: wait
            # the message of a connection error can hold the URL, password included
            reason = str(error) if isinstance(error, db.SchemaNotCurrent) else type(error).__name__
        if time.monotonic() > deadline:
            print(f"gave up after {args.timeout:.0f} s: {reason}", file=sys.stderr)
            return 1
        print(f"waiting for `bot migrate`: {reason}", flush=True)
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
