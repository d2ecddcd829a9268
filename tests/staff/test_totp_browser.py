"""Two-factor sign-in in Chromium: the login form takes the authenticator code, a wrong
code keeps the person out with the same message as a wrong password, the right one lets
them in."""

from __future__ import annotations

import re
import time
import uuid

import pyotp
import pytest

from tests.browser import launch_chromium
from tests.staff.conftest import PASSWORD, run_cli

playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.mark.browser
def test_totp_sign_in_in_chromium(console):
    name = f"tina{uuid.uuid4().hex[:6]}"
    assert run_cli(console.env, "staff", "add", name, stdin=PASSWORD + "\n").returncode == 0
    enrolled = run_cli(console.env, "staff", "totp", name)
    secret = re.search(r"secret: ([A-Z2-7]+)", enrolled.stdout)
    assert secret, enrolled.stdout
    totp = pyotp.TOTP(secret.group(1))
    now = time.time()
    near = {totp.at(now + offset) for offset in (-60, -30, 0, 30, 60)}  # every code the server could accept
    wrong = next(c for c in ("123456", "654321", "000000") if c not in near)
    with playwright_sync.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page()
            page.goto(f"{console.url}/staff/login")
            code_field = page.get_by_label(re.compile("Code from your authenticator app"))
            page.fill("input[name=username]", name)
            page.fill("input[name=password]", PASSWORD)
            code_field.fill(wrong)
            page.click("button[type=submit]")
            assert page.locator("p.error").inner_text() == "Wrong username, password or code."
            assert "/staff/login" in page.url
            page.fill("input[name=username]", name)
            page.fill("input[name=password]", PASSWORD)
            page.get_by_label(re.compile("Code from your authenticator app")).fill(totp.now())
            page.click("button[type=submit]")
            page.wait_for_url("**/staff/conversations**")
            assert page.locator("header .who").inner_text() == name
        finally:
            browser.close()
