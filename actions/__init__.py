"""Rasa SDK custom actions. Thin on purpose: the logic lives in the `bot` package."""

from bot.redact import install_log_redaction

# rasa_sdk has set up logging before it imports this package; from here on nothing a
# visitor typed reaches the action server's log unredacted.
install_log_redaction()
