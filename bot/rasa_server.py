"""Entry point of the Rasa server process: `python -m bot.rasa_server ARGS` = `rasa run ARGS`.

The same command line, parser, logging and serving function as `rasa run`, with two
differences:

- The HTTP API token comes from the environment (`RASA_TOKEN`, read through
  `bot.settings`), never from the command line, where every local user could read it
  with `ps`. Passing `--auth-token` is refused.
- The transcripts schema is migrated before this process starts (`bot.stack` or
  `bot migrate`), so the tracker store only checks that it is current.
- Each JSON schema Rasa validates against is checked once, not on every action
  server answer (`bot.schema_cache`): that check was about 45 % of its CPU.
- A stored event's type is looked up in a table (`bot.event_lookup`), not by listing
  every Event subclass for each event of a conversation at each load.
- Every log record is redacted (`bot.redact.install_log_redaction`) and sanic's access
  log is off, whatever level Rasa logs at (`LOG_LEVEL`, `--debug`): Rasa writes what a
  visitor typed into its DEBUG lines, and access lines name the client.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(arg == "--auth-token" or arg.startswith("--auth-token=") for arg in argv):
        sys.exit("bot.rasa_server: the API token is read from RASA_TOKEN, never from the command line")

    from bot import event_lookup, schema_cache
    from bot import settings as settings_module
    from bot.redact import install_log_redaction
    from bot.transcripts import db

    # Before Rasa configures logging: the redaction sits in the record factory, so it
    # survives Rasa replacing the handlers.
    install_log_redaction()
    schema_cache.install()
    event_lookup.install()

    token = settings_module.load().rasa_token
    db.migrations_run_elsewhere()

    import rasa.__main__
    import rasa.cli.run

    rasa_run = rasa.cli.run.run

    def run_with_token(args: argparse.Namespace) -> None:
        args.auth_token = token
        rasa_run(args)

    # `rasa run` registers the module's `run` as its handler when the parser is built
    # (inside rasa.__main__.main), so the handler is swapped before that.
    rasa.cli.run.run = run_with_token
    sys.argv = ["rasa", "run", *argv]
    rasa.__main__.main()


if __name__ == "__main__":
    main()
