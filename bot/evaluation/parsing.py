"""Messages through a trained model: the whole NLU pipeline, safety net and fallback included."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Dict, Iterable, List

from bot.nlp.crisis_matcher import SAFETY_CHECK


def quiet_logging() -> None:
    """Rasa logs every parse at debug level through structlog: keep evaluation output readable.
    Rasa's repeated-log filter stays off: it would attach itself to whatever handlers the
    caller has (pytest's capture handler among them) and drop the second identical warning."""
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING, filter_repeated_logs=False)
    configure_structlog(logging.WARNING)


class Parser:
    def __init__(self, model_path: Path) -> None:
        from rasa.core.agent import Agent  # heavy import, only when a model is parsed

        quiet_logging()
        self._agent = Agent.load(str(model_path))

    def parse(self, texts: Iterable[str]) -> List[Dict[str, Any]]:
        async def run(items: List[str]) -> List[Dict[str, Any]]:
            return [await self._agent.parse_message(text) for text in items]

        return asyncio.run(run(list(texts)))

    def intents(self, texts: Iterable[str]) -> List[str]:
        """The reply each message gets, by intent; a safety check is its own outcome."""
        return [outcome(parsed) for parsed in self.parse(texts)]


def outcome(parsed: Dict[str, Any]) -> str:
    if any(e.get("entity") == SAFETY_CHECK for e in parsed.get("entities") or []):
        return SAFETY_CHECK
    return parsed["intent"]["name"]
