"""Staff sessions over real HTTP against the real web app: a new session id at every login
(nothing the browser held before survives it), logout ended on the server, and the idle
and absolute time-outs, with tiny settings so the test waits seconds, not hours."""

from __future__ import annotations

import time
from typing import Callable, Iterator

import pytest
import requests

from bot.web.staff import auth
from tests.staff.conftest import PASSWORD, Console, csrf_of, start_console

PAGE = "/staff/conversations"


def token_of(http: requests.Session) -> str:
    return http.cookies.get(auth.COOKIE_NAME, path="/staff") or ""


def with_token(console: Console, token: str) -> int:
    """The status of a console page for a browser that sends only this session cookie."""
    response = requests.get(console.url + PAGE, cookies={auth.COOKIE_NAME: token}, allow_redirects=False)
    if response.status_code == 303:
        assert response.headers["location"].startswith("/staff/login")
    return response.status_code


def test_login_issues_a_new_session_id_and_ends_the_one_the_browser_held(console):
    first = console.login()
    old = token_of(first)
    assert with_token(console, old) == 200
    # a browser that still holds that session id signs in (someone else at a shared desk)
    browser = requests.Session()
    form = browser.get(console.url + "/staff/login")
    again = browser.post(
        console.url + "/staff/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        cookies={auth.COOKIE_NAME: old},  # sent beside the login form's own cookie
        allow_redirects=False,
    )
    assert again.status_code == 303
    new = token_of(browser)
    assert new and new != old
    assert with_token(console, old) == 303
    assert with_token(console, new) == 200
    # the login form's own token (the only pre-login cookie) is cleared by the login
    assert auth.LOGIN_CSRF_COOKIE not in {c.name for c in browser.cookies}


def test_a_planted_session_id_is_never_adopted(console):
    planted = "attacker-chosen-" + "x" * 30
    browser = requests.Session()
    form = browser.get(console.url + "/staff/login")
    response = browser.post(
        console.url + "/staff/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        cookies={auth.COOKIE_NAME: planted},  # sent beside the login form's own cookie
        allow_redirects=False,
    )
    assert response.status_code == 303
    assert token_of(browser) != planted
    assert with_token(console, planted) == 303
    assert with_token(console, token_of(browser)) == 200


def test_logout_ends_the_session_on_the_server_not_only_in_the_browser(console):
    http = console.login()
    copied = token_of(http)  # as if the cookie had been copied off the machine
    page = http.get(console.url + PAGE)
    out = http.post(console.url + "/staff/logout", data={"csrf_token": csrf_of(page.text)}, allow_redirects=False)
    assert out.status_code == 303
    assert with_token(console, copied) == 303


# --------------------------------------------------------------------------- time-outs

IDLE_SECONDS = 3.0
LIFETIME_SECONDS = 6.0


@pytest.fixture(scope="module")
def idle_console() -> Iterator[Console]:
    with start_console(BOT_STAFF_IDLE_MINUTES=str(IDLE_SECONDS / 60)) as running:
        yield running


@pytest.fixture(scope="module")
def short_console() -> Iterator[Console]:
    with start_console(BOT_STAFF_SESSION_HOURS=str(LIFETIME_SECONDS / 3600)) as running:
        yield running


def keep_busy(console: Console, http: requests.Session, seconds: float, alive: Callable[[], bool]) -> int:
    """Open a page every half second for `seconds`. Each answer must be the page if
    `alive()` still holds once it has arrived. Returns how many answers were checked."""
    start = time.monotonic()
    checked = 0
    while time.monotonic() - start < seconds:
        status = http.get(console.url + PAGE, allow_redirects=False).status_code
        if alive():
            assert status == 200, f"signed out after {time.monotonic() - start:.1f} s of activity"
            checked += 1
        time.sleep(0.5)
    return checked


def test_an_active_session_outlives_the_idle_timeout_and_an_idle_one_ends(idle_console):
    http = idle_console.login()
    # busy for twice the idle time-out: every request resets the idle timer
    assert keep_busy(idle_console, http, 2 * IDLE_SECONDS, alive=lambda: True) >= 8
    time.sleep(IDLE_SECONDS + 1)
    response = http.get(idle_console.url + PAGE, allow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/staff/login")
    assert idle_console.login() is not None  # and one can simply log in again


def test_a_busy_session_ends_at_its_absolute_lifetime(short_console):
    before_login = time.monotonic()
    http = short_console.login()
    after_login = time.monotonic()
    # the session's age lies between these two: younger than the lifetime by the first,
    # older than it by the second
    checked = keep_busy(
        short_console, http, LIFETIME_SECONDS - 1.5, alive=lambda: time.monotonic() - before_login < LIFETIME_SECONDS
    )
    assert checked >= 4
    time.sleep(max(0.0, after_login + LIFETIME_SECONDS + 0.5 - time.monotonic()))
    response = http.get(short_console.url + PAGE, allow_redirects=False)
    assert response.status_code == 303, "the session outlived BOT_STAFF_SESSION_HOURS while in use"
    assert short_console.login() is not None
