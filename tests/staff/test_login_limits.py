"""Failed staff logins lock an account name for a growing time, over real HTTP against the
real web app and its SQLite database (tests/staff/conftest.py, `console`).

After 5 failures in a row the next attempt is not even checked for 1 s, then 2 s, 4 s… (up
to 60 s). Every failure and every lock is in the audit log, a correct password during a lock
is refused, and an account name that does not exist is answered exactly alike.
"""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from typing import List, Tuple

import requests

from bot.web.staff import auth
from tests.staff.conftest import PASSWORD, Console, csrf_of, run_cli


def attempt(console: Console, username: str, password: str) -> Tuple[int, str, str]:
    """(status, the page's error line, Retry-After) of one login as a fresh browser."""
    http = requests.Session()
    token = csrf_of(http.get(f"{console.url}/staff/login").text)
    response = http.post(
        f"{console.url}/staff/login",
        data={"username": username, "password": password, "csrf_token": token},
        allow_redirects=False,
    )
    match = re.search(r'<p class="error" role="alert">([^<]*)</p>', response.text)
    return response.status_code, match.group(1) if match else "", response.headers.get("Retry-After", "")


def audit_entries(console: Console, username: str) -> List[Tuple[str, str]]:
    with sqlite3.connect(console.db_path) as db:
        rows = db.execute("SELECT action, detail FROM audit_log WHERE username = ? ORDER BY id", (username,))
        return [(action, detail) for action, detail in rows]


def add_account(console: Console, username: str) -> None:
    result = run_cli(console.env, "staff", "add", username, stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr


def fail_until_locked(console: Console, username: str) -> List[Tuple[int, str, str]]:
    return [attempt(console, username, "wrong password") for _ in range(auth.MAX_FAILURES)]


def test_the_lock_grows_and_a_correct_password_waits_it_out(console):
    name = f"bob{uuid.uuid4().hex[:6]}"
    add_account(console, name)

    failures = fail_until_locked(console, name)
    assert [status for status, _, _ in failures] == [401] * auth.MAX_FAILURES
    assert {error for _, error, _ in failures} == {"Wrong username, password or code."}

    # locked for 1 s: even the right password is not checked
    status, error, retry_after = attempt(console, name, PASSWORD)
    assert status == 429 and retry_after == "1"
    assert error == "Too many failed attempts. Wait 1 second and try again."

    time.sleep(1.2)
    assert attempt(console, name, "still wrong")[0] == 401  # checked again, and wrong: 2 s now
    time.sleep(1.2)
    status, _, retry_after = attempt(console, name, PASSWORD)
    assert status == 429, "the second lock should outlast the first"
    assert retry_after == "1"
    time.sleep(1.2)
    assert attempt(console, name, PASSWORD)[0] == 303

    # a success clears the count: one more mistake does not lock
    assert attempt(console, name, "a slip")[0] == 401
    assert attempt(console, name, PASSWORD)[0] == 303

    entries = audit_entries(console, name)
    actions = [action for action, _ in entries]
    assert actions.count("login_failed") == auth.MAX_FAILURES + 1 + 1 + 2  # wrong ×7, refused ×2
    assert [detail for action, detail in entries if action == "login_locked"] == ["1 s", "2 s"]
    assert [detail for action, detail in entries if action == "login_failed"].count("locked") == 2
    assert actions.count("login") == 2


def test_an_unknown_account_gets_the_same_answers(console):
    known, unknown = f"carol{uuid.uuid4().hex[:6]}", f"ghost{uuid.uuid4().hex[:6]}"
    add_account(console, known)
    answers = {}
    for name in (known, unknown):
        seen = fail_until_locked(console, name)
        seen.append(attempt(console, name, PASSWORD))  # during the lock
        answers[name] = seen
    assert answers[known] == answers[unknown]
    assert answers[unknown][-1][0] == 429
    assert [a for a, _ in audit_entries(console, unknown)].count("login_locked") == 1


def test_the_lock_doubles_up_to_a_cap():
    assert [auth.lock_seconds(n) for n in range(auth.MAX_FAILURES)] == [0] * auth.MAX_FAILURES
    steps = [auth.lock_seconds(auth.MAX_FAILURES + i) for i in range(10)]
    assert steps == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert auth.lock_seconds(10_000) == auth.MAX_LOCK_SECONDS
