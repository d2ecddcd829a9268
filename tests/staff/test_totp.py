"""Two-factor sign-in (TOTP) over real HTTP against the real web app and its SQLite file:
enrolment from the command line, the code on the login form, codes good once, wrong codes
counted by the account lock, and the audit entries of each."""

from __future__ import annotations

import base64
import datetime as dt
import re
import sqlite3
import threading
import time
import uuid
from typing import List, Tuple
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
import requests

from bot.web.staff import auth, totp
from tests.staff.conftest import PASSWORD, Console, run_cli


def new_account(console: Console) -> str:
    name = f"tess{uuid.uuid4().hex[:6]}"
    result = run_cli(console.env, "staff", "add", name, stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    return name


def enrol(console: Console, name: str) -> Tuple[str, str]:
    """(secret, otpauth URI) as `bot staff totp NAME` prints them."""
    result = run_cli(console.env, "staff", "totp", name)
    assert result.returncode == 0, result.stderr
    secret = re.search(r"secret: ([A-Z2-7]+)", result.stdout)
    uri = re.search(r"(otpauth://\S+)", result.stdout)
    assert secret and uri, result.stdout
    return secret.group(1), uri.group(1)


def code_at(secret: str, offset_seconds: float = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + offset_seconds)


def wrong_code(secret: str) -> str:
    """A six-digit code that is none of the codes the server accepts right now."""
    near = {code_at(secret, offset) for offset in (-60, -30, 0, 30, 60)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c not in near)


def audit(console: Console, name: str) -> List[Tuple[str, str, str]]:
    """(username, action, detail) of every entry about the account `name`."""
    with sqlite3.connect(console.db_path) as db:
        rows = db.execute(
            "SELECT username, action, detail FROM audit_log WHERE username = ? OR target = ? ORDER BY id", (name, name)
        )
        return list(rows)


def error_line(response: requests.Response) -> str:
    match = re.search(r'<p class="error" role="alert">([^<]*)</p>', response.text)
    return match.group(1) if match else ""


def test_enrolment_prints_a_working_secret_once_and_stores_it_only_encrypted(console):
    name = new_account(console)
    secret, uri = enrol(console, name)
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert parse_qs(parsed.query)["secret"] == [secret]
    assert name in parsed.path
    # an authenticator app that reads the URI makes the same codes as the server expects
    assert pyotp.parse_uri(uri).now() == pyotp.TOTP(secret).now()
    raw = console.db_path.read_bytes()
    assert secret.encode() not in raw and base64.b32decode(secret) not in raw
    listing = run_cli(console.env, "staff", "list").stdout
    assert f"{name}\tactive\tpassword+totp" in listing
    assert ("cli:", "totp_enrol") in {(user[:4], action) for user, action, _ in audit(console, name)}


def test_an_enrolled_account_needs_its_code_and_gets_in_with_it(console):
    name = new_account(console)
    secret, _ = enrol(console, name)
    missing = console.try_login(requests.Session(), name, PASSWORD)
    wrong = console.try_login(requests.Session(), name, PASSWORD, wrong_code(secret))
    bad_password = console.try_login(requests.Session(), name, "not the password", code_at(secret))
    # the same answer whichever factor was wrong: a guessed password is never confirmed
    assert [r.status_code for r in (missing, wrong, bad_password)] == [401, 401, 401]
    assert {error_line(r) for r in (missing, wrong, bad_password)} == {"Wrong username, password or code."}

    http = requests.Session()
    code = code_at(secret)
    ok = console.try_login(http, name, PASSWORD, f"{code[:3]} {code[3:]}")  # as many apps show it
    assert ok.status_code == 303
    assert http.get(console.url + "/staff/conversations", allow_redirects=False).status_code == 200

    entries = audit(console, name)
    failures = [detail for user, action, detail in entries if action == "login_failed"]
    assert failures == ["no code", "wrong code", "invalid"]
    assert (name, "login", "with totp") in entries


def test_a_code_is_accepted_once_and_the_next_code_works(console):
    name = new_account(console)
    secret, _ = enrol(console, name)
    code = code_at(secret)
    first = requests.Session()
    assert console.try_login(first, name, PASSWORD, code).status_code == 303
    replay = console.try_login(requests.Session(), name, PASSWORD, code)
    assert replay.status_code == 401
    assert audit(console, name)[-1][1:] == ("login_failed", "code already used")
    # the code of the next 30-second step (an app whose clock runs a little ahead) is new
    assert console.try_login(requests.Session(), name, PASSWORD, code_at(secret, 30)).status_code == 303


def test_two_sign_ins_racing_with_one_code_let_only_one_in(console):
    name = new_account(console)
    secret, _ = enrol(console, name)
    code = code_at(secret)
    sessions = [requests.Session() for _ in range(4)]
    pages = [s.get(console.url + "/staff/login").text for s in sessions]
    tokens = [re.search(r'name="csrf_token" value="([^"]+)"', p).group(1) for p in pages]  # type: ignore[union-attr]
    statuses: List[int] = []
    barrier = threading.Barrier(len(sessions))

    def post(http: requests.Session, token: str) -> None:
        barrier.wait()
        data = {"username": name, "password": PASSWORD, "code": code, "csrf_token": token}
        statuses.append(http.post(console.url + "/staff/login", data=data, allow_redirects=False).status_code)

    threads = [threading.Thread(target=post, args=pair) for pair in zip(sessions, tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [303, 401, 401, 401]


def test_wrong_codes_lock_the_account_like_wrong_passwords(console):
    name = new_account(console)
    secret, _ = enrol(console, name)
    statuses = [
        console.try_login(requests.Session(), name, PASSWORD, wrong_code(secret)) for _ in range(auth.MAX_FAILURES)
    ]
    assert [r.status_code for r in statuses] == [401] * auth.MAX_FAILURES
    locked = console.try_login(requests.Session(), name, PASSWORD, code_at(secret))
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "1"
    actions = [action for _, action, _ in audit(console, name)]
    assert actions.count("login_locked") == 1
    time.sleep(1.2)
    assert console.try_login(requests.Session(), name, PASSWORD, code_at(secret)).status_code == 303


def test_enrolling_ends_open_sessions_and_removing_goes_back_to_the_password(console):
    name = new_account(console)
    before = console.login(name)
    assert before.get(console.url + "/staff/audit", allow_redirects=False).status_code == 200
    secret, _ = enrol(console, name)
    assert before.get(console.url + "/staff/audit", allow_redirects=False).status_code == 303
    assert console.try_login(requests.Session(), name, PASSWORD).status_code == 401

    second, _ = enrol(console, name)  # a new secret replaces the old one
    assert second != secret
    old = code_at(secret)
    if old not in {code_at(second, offset) for offset in (-60, -30, 0, 30, 60)}:
        assert console.try_login(requests.Session(), name, PASSWORD, old).status_code == 401
    assert console.try_login(requests.Session(), name, PASSWORD, code_at(second, 30)).status_code == 303

    removed = run_cli(console.env, "staff", "totp", name, "--remove")
    assert removed.returncode == 0, removed.stderr
    assert console.try_login(requests.Session(), name, PASSWORD).status_code == 303
    actions = [action for _, action, _ in audit(console, name)]
    assert actions.count("totp_enrol") == 2 and actions.count("totp_remove") == 1
    assert run_cli(console.env, "staff", "totp", "nobody-" + name).returncode == 1


def test_a_secret_sealed_under_another_key_is_unreadable_not_guessable():
    sealed = totp.seal("JBSWY3DPEHPK3PXP", b"key one")
    assert totp.unseal(sealed, b"key one") == "JBSWY3DPEHPK3PXP"
    assert totp.unseal(sealed, b"key two") is None


@pytest.mark.parametrize("steps_away,accepted", [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
def test_codes_are_accepted_within_one_step_of_the_clock(steps_away, accepted):
    secret = totp.new_secret()
    now = dt.datetime(2026, 11, 24, 12, 0, 10, tzinfo=dt.timezone.utc)
    code = pyotp.TOTP(secret).at(now + dt.timedelta(seconds=30 * steps_away))
    step = totp.matching_step(secret, code, now)
    assert (step is not None) is accepted
    if accepted:
        assert step == pyotp.TOTP(secret).timecode(now) + steps_away
