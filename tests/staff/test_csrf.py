"""CSRF on every form of the console, over real HTTP against the real web app: each POST
route refuses a signed-in request whose form token is missing or wrong, and changes
nothing; every form the console renders carries the session's token."""

from __future__ import annotations

import re
import sqlite3
import time
import uuid

import pytest
import requests

from bot.web.staff.routes import router
from tests.staff.conftest import PASSWORD, Console, csrf_of, write_conversation


def post_routes():
    return sorted({route.path for route in router.routes if "POST" in route.methods and route.path != "/staff/login"})


def concrete(path: str, sid: str) -> str:
    return path.replace("{sender_id:path}", sid).replace("{event_id}", "1")


def audit_count(console: Console) -> int:
    with sqlite3.connect(console.db_path) as db:
        return db.execute("SELECT count(*) FROM audit_log").fetchone()[0]


@pytest.fixture(scope="module")
def sid(console):
    sender = f"csrf-{uuid.uuid4().hex[:6]}"
    turn = ("can i take methadone", "methadone_info", 0.8, "Methadone is a medicine...", {"fact": "methadone_info"})
    write_conversation(console.db_url, sender, [turn], start=time.time() - 60)
    return sender


def test_the_console_has_the_forms_this_test_walks():
    # a guard against walking nothing: these are the console's state-changing routes
    assert {"/staff/logout", "/staff/export/nlu", "/staff/export/conversations"} <= set(post_routes())
    assert len(post_routes()) >= 7


@pytest.mark.parametrize("path", post_routes())
@pytest.mark.parametrize("token", [None, "forged", ""])
def test_every_post_route_refuses_a_missing_or_wrong_token(console, sid, path, token):
    http = console.login()
    before = audit_count(console)
    data = {"reviewed": "yes", "tag": "forged", "note": "forged", "intent": "greet", "format": "json"}
    if token is not None:
        data["csrf_token"] = token
    response = http.post(console.url + concrete(path, sid), data=data, allow_redirects=False)
    assert response.status_code == 403, (path, response.status_code)
    assert "form token" in response.text
    assert audit_count(console) == before  # nothing happened, so nothing was audited
    # and the session is untouched (a forged logout did not sign anyone out)
    assert http.get(f"{console.url}/staff/conversations", allow_redirects=False).status_code == 200


def test_a_token_of_another_session_is_refused(console, sid):
    mine, theirs = console.login(), console.login()
    their_token = csrf_of(theirs.get(f"{console.url}/staff/conversations/{sid}").text)
    response = mine.post(f"{console.url}/staff/export/nlu", data={"csrf_token": their_token})
    assert response.status_code == 403


def test_login_refuses_a_missing_or_foreign_form_token(console):
    assert (
        requests.post(console.url + "/staff/login", data={"username": "alice", "password": PASSWORD}).status_code == 403
    )
    other = requests.Session()
    foreign = csrf_of(other.get(console.url + "/staff/login").text)
    victim = requests.Session()
    victim.get(console.url + "/staff/login")
    response = victim.post(
        console.url + "/staff/login", data={"username": "alice", "password": PASSWORD, "csrf_token": foreign}
    )
    assert response.status_code == 403


def test_every_rendered_form_carries_the_session_token(console, sid):
    http = console.login()
    pages = [f"/staff/conversations/{sid}", "/staff/conversations", "/staff/dashboard", "/staff/audit"]
    seen = 0
    tokens = set()
    for page in pages:
        html = http.get(console.url + page).text
        for form in re.findall(r"<form\b[^>]*>.*?</form>", html, re.S | re.I):
            if re.search(r'method="post"', form, re.I):
                seen += 1
                tokens.update(re.findall(r'name="csrf_token" value="([^"]+)"', form) or ["MISSING"])
    assert seen >= 5
    assert len(tokens) == 1 and "MISSING" not in tokens
