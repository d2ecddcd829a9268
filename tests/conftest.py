"""Shared fixtures: the real stack (Rasa, actions, web) started once per test session.

The model must already be trained (`make test` trains it first when data changed); the
stack runs on free loopback ports with a fresh SQLite file, so a running `make run`
does not interfere.
"""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from bot import settings as settings_module
from bot.stack import Stack
from tests.services import free_port

ARTIFACTS = Path(__file__).resolve().parent / ".artifacts"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def test_settings() -> settings_module.Settings:
    ARTIFACTS.mkdir(exist_ok=True)
    db = ARTIFACTS / f"stack-{uuid.uuid4().hex[:8]}.db"
    return settings_module.load().replace(
        rasa_port=free_port(),
        actions_port=free_port(),
        web_port=free_port(),
        db_url=f"sqlite:///{db}",
    )


@pytest.fixture(scope="session")
def stack(test_settings) -> Iterator[Stack]:
    """Rasa server, action server and (when it exists) the web app, started once."""
    running = Stack(test_settings, log_dir=ARTIFACTS / "logs")
    try:
        running.start_all()
        yield running
    finally:
        running.stop()


def first_paragraph(text: str) -> str:
    """The opening paragraph of a fact or reply: what the visitor sees first."""
    return text.strip().split("\n\n")[0]


def post_json(url: str, body: Dict[str, Any], timeout: float = 60) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture
def chat(stack) -> Callable[..., List[Dict[str, Any]]]:
    """Send one message through Rasa's REST channel; returns the bot's messages."""

    def send(text: str, sender: Optional[str] = None, region: Optional[str] = None):
        body: Dict[str, Any] = {"sender": sender or uuid.uuid4().hex, "message": text}
        if region:
            body["metadata"] = {"region": region}
        return post_json(stack.settings.rasa_webhook_url, body)

    return send
