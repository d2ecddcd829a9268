"""The `bot` command (console script) and its subcommands."""
