"""Fixtures for the staff console: the real web app (uvicorn, loopback) on its own SQLite
file, conversations written through the real redacting tracker store, a staff account.

The console does not need Rasa, so these tests run without a trained model; the
end-to-end privacy test in tests/privacy uses the full stack instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest
import requests

from bot.paths import ROOT
from bot.stack import wait_until_up
from tests.conftest import ARTIFACTS, free_port

PASSWORD = "correct horse battery staple"


@dataclass
class Console:
    url: str
    db_url: str
    db_path: Path
    env: Dict[str, str]

    def login(self, username: str = "alice", password: str = PASSWORD, code: str = "") -> requests.Session:
        http = requests.Session()
        response = self.try_login(http, username, password, code)
        assert response.status_code == 303, response.text
        return http

    def try_login(
        self, http: requests.Session, username: str = "alice", password: str = PASSWORD, code: str = ""
    ) -> requests.Response:
        """One sign-in through the login form, as a browser with `http`'s cookies does it."""
        page = http.get(f"{self.url}/staff/login")
        data = {"username": username, "password": password, "csrf_token": csrf_of(page.text)}
        if code:
            data["code"] = code
        return http.post(f"{self.url}/staff/login", allow_redirects=False, data=data)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


# The `bot` console script installed with the project (pyproject.toml, bot.cli.main:main).
BOT = Path(sys.executable).with_name("bot")


def run_cli(env: Dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """Run `bot ARGS…` as a person does, in its own process with `env` as its environment."""
    return subprocess.run(
        [str(BOT), *args], input=stdin, text=True, capture_output=True, cwd=ROOT, env=env, timeout=120
    )


def write_conversation(
    db_url: str, sender_id: str, turns: List[tuple], start: Optional[float] = None, step: float = 10
) -> None:
    """Save a conversation through the real RedactingTrackerStore.

    `turns`: (visitor text, intent, confidence, bot text, bot metadata) tuples.
    """
    import time

    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.transcripts.tracker_store import RedactingTrackerStore

    store = RedactingTrackerStore(domain=Domain.empty(), host=db_url)
    ts = start if start is not None else time.time()
    events = [
        ActionExecuted("action_session_start", timestamp=ts),
        SessionStarted(timestamp=ts),
        ActionExecuted("action_listen", timestamp=ts),
    ]
    for i, (text, intent, confidence, reply, metadata) in enumerate(turns):
        t = ts + i * step + 1
        entities = []
        for word, entity in (("methadone", "medication"), ("heroin", "substance"), ("son", "family_member")):
            at = text.find(word)
            if at >= 0:
                entities.append(
                    {
                        "entity": entity,
                        "value": word,
                        "start": at,
                        "end": at + len(word),
                        "extractor": "RegexEntityExtractor",
                    }
                )
        events.append(
            UserUttered(
                text,
                {"name": intent, "confidence": confidence},
                entities,
                parse_data={
                    "intent": {"name": intent, "confidence": confidence},
                    "entities": entities,
                    "text": text,
                    "intent_ranking": [{"name": intent, "confidence": confidence}],
                },
                timestamp=t,
            )
        )
        action = (metadata or {}).get("utter_action") or "action_answer_fact"
        events.append(ActionExecuted(action, timestamp=t + 1))
        events.append(BotUttered(reply, metadata=metadata or {}, timestamp=t + 1))
        events.append(ActionExecuted("action_listen", timestamp=t + 2))
    tracker = DialogueStateTracker.from_events(sender_id, events, slots=[])
    # in a thread of its own: a test that ran before may have left an event loop running in
    # this one (seen once in a shuffled full run), and asyncio.run refuses to nest
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, store.save(tracker)).result()
    store.engine.dispose()


@pytest.fixture(scope="module")
def console() -> Iterator[Console]:
    """The real web app (bot.web.app) on a free loopback port with a fresh database, one per
    test module, so what one module writes (conversations, logins) cannot steer another."""
    with start_console() as running:
        yield running


@contextlib.contextmanager
def start_console(**settings: str) -> Iterator[Console]:
    """The real web app as `console` starts it, with `settings` (environment variables such
    as BOT_STAFF_IDLE_MINUTES="0.05") added to its environment."""
    ARTIFACTS.mkdir(exist_ok=True)
    db_path = ARTIFACTS / f"staff-{uuid.uuid4().hex[:8]}.db"
    db_url = f"sqlite:///{db_path}"
    port = free_port()
    env = dict(
        os.environ,
        BOT_DB_URL=db_url,
        BOT_SECRET_KEY="test-" + uuid.uuid4().hex,
        PYTHONPATH=str(ROOT),
        TF_CPP_MIN_LOG_LEVEL="3",
        WEB_PORT=str(port),
        RASA_PORT=str(free_port()),
        **settings,
    )
    result = run_cli(env, "staff", "add", "alice", stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    log = open(ARTIFACTS / f"staff-web-{port}.log", "ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bot.web.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", 60, proc)
        yield Console(f"http://127.0.0.1:{port}", db_url, db_path, env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
