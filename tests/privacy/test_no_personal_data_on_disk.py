"""A real conversation through the real stack (Rasa + actions + web) that types personal
data; afterwards the SQLite file's bytes, and the processes' logs, contain none of it."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.stack

# (what the visitor types, the personal data in it that must never reach the disk)
MESSAGES = [
    ("hi, my name is Rosalind Featherstone", ["Rosalind", "Featherstone"]),
    (
        "my email is rosalind.f@example.com and my mobile is 07700 900461",
        ["rosalind.f@example.com", "07700 900461", "07700900461", "900461"],
    ),
    ("I live at 14 Wetherby Road, Leeds LS6 2AB", ["Wetherby", "LS6 2AB", "LS62AB"]),
    ("my NHS number is 943 476 5919 and I was born on 12/03/1985", ["943 476 5919", "9434765919", "12/03/1985"]),
    ("my US cell is (415) 555-2671, ssn 078-05-1120", ["555-2671", "4155552671", "078-05-1120", "078051120"]),
    ("I'm called Ros, I took heroin 8 hours ago and I'm starting to rattle", ["Ros,"]),
    ("<script>alert('x')</script> thanks, bye", []),
]


def sqlite_path(db_url: str) -> Path:
    assert db_url.startswith("sqlite:///"), db_url
    return Path(db_url[len("sqlite:///") :])


def disk_bytes(path: Path) -> bytes:
    """The database file plus any journal/WAL beside it."""
    data = b""
    for candidate in (path, Path(str(path) + "-journal"), Path(str(path) + "-wal")):
        if candidate.exists():
            data += candidate.read_bytes()
    return data


def test_personal_data_typed_in_a_conversation_never_reaches_the_disk(stack, chat):
    sender = f"privacy-{uuid.uuid4().hex[:8]}"
    for text, _ in MESSAGES:
        replies = chat(text, sender=sender)
        assert isinstance(replies, list)

    db_file = sqlite_path(stack.settings.db_url)
    raw = disk_bytes(db_file)
    assert sender.encode() in raw, "the conversation was not stored at all"
    lowered = raw.lower()
    for _, secrets in MESSAGES:
        for secret in secrets:
            assert secret.lower().encode() not in lowered, f"{secret!r} is in {db_file}"

    logs = b"".join(p.read_bytes() for p in stack.log_dir.glob("*.log"))
    for _, secrets in MESSAGES:
        for secret in secrets:
            assert secret.encode() not in logs, f"{secret!r} is in a log file in {stack.log_dir}"

    # What was stored is the redacted conversation, message by message.
    engine = sa.create_engine(stack.settings.db_url)
    with engine.connect() as c:
        rows = c.execute(
            sa.text("SELECT intent_name, data FROM events WHERE sender_id = :s AND type_name = 'user' ORDER BY id"),
            {"s": sender},
        ).all()
    engine.dispose()
    texts = [json.loads(data)["text"] for _, data in rows]
    assert texts == [
        "hi, my name is [NAME]",
        "my email is [EMAIL] and my mobile is [PHONE]",
        "I live at [ADDRESS]",
        "my NHS number is [NHS_NUMBER] and I was born on [DOB]",
        "my US cell is [PHONE], ssn [SSN]",
        "I'm called [NAME], I took heroin 8 hours ago and I'm starting to rattle",
        "<script>alert('x')</script> thanks, bye",
    ]

    # The NLU of each turn saw the original text: the stored prediction is the prediction
    # for what the visitor typed, and entities from the unredacted part survive.
    request = urllib.request.Request(
        f"{stack.settings.rasa_url}/model/parse?token={stack.settings.rasa_token}",
        data=json.dumps({"text": MESSAGES[5][0]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        parsed = json.loads(response.read())
    stored_intent, stored = rows[5][0], json.loads(rows[5][1])
    assert stored_intent == parsed["intent"]["name"]
    stored_entities = {(e["entity"], e["value"]) for e in stored["parse_data"]["entities"]}
    assert ("substance", "heroin") in stored_entities
    # entity offsets were moved to the redacted text ("Ros" became "[NAME]")
    heroin = next(e for e in stored["parse_data"]["entities"] if e["entity"] == "substance")
    if "start" in heroin:
        assert stored["text"][heroin["start"] : heroin["end"]] == "heroin"


def test_staff_read_the_real_conversation_redacted_in_the_console(stack, chat):
    """A crisis conversation through the real stack shows up first in "needs review" and
    reads redacted in the console of the real web process; its export is redacted too."""
    import os
    import re

    import requests

    from bot.paths import ROOT
    from tests.staff.conftest import PASSWORD, csrf_of, run_cli

    if "web" not in stack.procs:
        pytest.skip("the web app is not part of this stack")
    sender = f"crisis-{uuid.uuid4().hex[:8]}"
    chat("my name is Bartholomew Quill and I want to kill myself", sender=sender)
    chat("my number is 07700 900321", sender=sender)
    env = dict(os.environ, BOT_DB_URL=stack.settings.db_url, PYTHONPATH=str(ROOT))
    assert run_cli(env, "staff", "add", "reviewer", stdin=PASSWORD + "\n").returncode == 0

    web = stack.settings.web_url
    http = requests.Session()
    token = csrf_of(http.get(f"{web}/staff/login").text)
    assert (
        http.post(
            f"{web}/staff/login", data={"username": "reviewer", "password": PASSWORD, "csrf_token": token}
        ).status_code
        == 200
    )
    listing = http.get(f"{web}/staff/conversations?view=needs_review").text
    rows = re.findall(r'<tr class="(row-crisis|)">\s*<td><a href="/staff/conversations/([^"?]+)"', listing)
    crisis_flags = [cls == "row-crisis" for cls, _ in rows]
    assert ("row-crisis", sender) in rows  # flagged as crisis, unreviewed ...
    assert crisis_flags == sorted(crisis_flags, reverse=True)  # ... and every such row is above the rest
    page = http.get(f"{web}/staff/conversations/{sender}").text
    assert "my name is [NAME] and I want to kill myself" in page
    assert "my number is [PHONE]" in page
    assert "crisis_suicidal" in page
    assert "Bartholomew" not in page and "900321" not in page
    export = http.post(
        f"{web}/staff/export/conversations",
        data={"format": "json", "csrf_token": csrf_of(page), "conversation_id": sender},
    )
    assert "[NAME]" in export.text and "Bartholomew" not in export.text and "900321" not in export.text


# A distinctive client: what a proxy in front of the web app would pass on, and a browser.
CLIENT_IP = "198.51.100.203"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; PrivacyProbe/7.3) Gecko/20100101 Firefox/128.0"


@pytest.fixture(scope="module")
def debug_stack(tmp_path_factory):
    """Rasa, actions and the web app at DEBUG, sanic's loggers too, behind a trusted proxy
    (so the web app reads the client address), each writing its own log file."""
    import os

    from bot import settings as settings_module
    from bot.stack import Stack
    from tests.services import free_port

    base = tmp_path_factory.mktemp("debug-stack")
    settings = settings_module.load().replace(
        rasa_port=free_port(),
        actions_port=free_port(),
        web_port=free_port(),
        db_url=f"sqlite:///{base / 'bot.db'}",
        trust_proxy=True,
    )
    saved = {k: os.environ.get(k) for k in ("LOG_LEVEL", "LOG_LEVEL_LIBRARIES")}
    os.environ.update(LOG_LEVEL="DEBUG", LOG_LEVEL_LIBRARIES="DEBUG")
    running = Stack(settings, log_dir=base / "logs")
    try:
        running.start_all()
        yield running
    finally:
        running.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_nothing_of_the_visitor_reaches_any_file_even_at_debug(debug_stack):
    """Through the web app, as a browser behind a proxy: afterwards no file the stack wrote
    (database, journal, every log) holds the personal data, the client's address or its
    user agent; the metadata stored with each message is the region (and Rasa's own ids)."""
    if "web" not in debug_stack.procs:
        pytest.skip("the web app is not part of this stack")
    conversation = uuid.uuid4().hex
    for text, _ in MESSAGES + [("hi im priya, 19, day 2 off the gear", ["priya"])]:
        request = urllib.request.Request(
            f"{debug_stack.settings.web_url}/api/chat",
            data=json.dumps({"conversation_id": conversation, "message": text, "region": "uk"}).encode(),
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Forwarded-For": CLIENT_IP},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            assert response.status == 200 and json.loads(response.read())["messages"]
            assert "set-cookie" not in {k.lower() for k in response.headers}

    db_file = sqlite_path(debug_stack.settings.db_url)
    files = [p for p in db_file.parent.rglob("*") if p.is_file()]
    raw = {p: p.read_bytes() for p in files}
    assert conversation.encode() in raw[db_file], "the conversation was not stored at all"
    logs = b"".join(data for p, data in raw.items() if p.suffix == ".log")
    # Rasa logged the messages at DEBUG, redacted (so the search below searches something)
    assert b"[NAME]" in logs and b"[PHONE]" in logs, "Rasa's DEBUG lines with the messages are missing"
    secrets = [s for _, found in MESSAGES for s in found] + ["priya", CLIENT_IP, "PrivacyProbe", USER_AGENT]
    for path, data in raw.items():
        for secret in secrets:
            assert secret.lower().encode() not in data.lower(), f"{secret!r} is in {path}"

    engine = sa.create_engine(debug_stack.settings.db_url)
    with engine.connect() as c:
        metadata = [
            json.loads(d).get("metadata")
            for (d,) in c.execute(
                sa.text("SELECT data FROM events WHERE sender_id = :s AND type_name = 'user'"), {"s": conversation}
            )
        ]
    engine.dispose()
    # beside the region, only what Rasa itself adds: the assistant's and the model's ids
    assert metadata and all(m["region"] == "uk" and set(m) <= {"region", "assistant_id", "model_id"} for m in metadata)
