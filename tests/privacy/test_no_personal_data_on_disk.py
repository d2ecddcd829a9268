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
