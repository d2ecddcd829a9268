"""Fixtures for the web app and widget tests: one Chromium per session, helpers to drive
the widget, and a second web app instance whose Rasa is unreachable."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Dict, Iterator, List
from urllib.parse import urlparse

import pytest
import yaml

from bot import facts as facts_module
from bot.paths import DATA, ROOT
from bot.stack import Stack
from tests.browser import CHROMIUM, launch_chromium
from tests.conftest import ARTIFACTS, free_port

HERE = Path(__file__).resolve().parent
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"
# The neutral sites the quick exit goes to (widget.js defaults); the tests answer them
# locally so no request leaves the machine.
EXIT_HOSTS = {"www.bbc.co.uk", "weather.com"}
DESKTOP = {"width": 1280, "height": 800}
PHONE = dict(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)


# ---- data the assertions compare against (never the bot's text hard-coded) ----------


def facts() -> Dict[str, dict]:
    return yaml.safe_load((DATA / "facts.yml").read_text(encoding="utf-8"))["facts"]


def contacts(region: str) -> Dict[str, Dict[str, str]]:
    return yaml.safe_load((DATA / "contacts.yml").read_text(encoding="utf-8"))[region]


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def first_sentence(text: str) -> str:
    text = squash(text)
    match = re.search(r"^.+?[.!?](?=\s|$)", text)
    return match.group(0) if match else text


def curated_openings(intent: str, region: str = "uk") -> List[str]:
    """First sentences of the curated texts the bot may answer `intent` with in `region`
    (placeholders such as {emergency} filled in, as bot.facts does for the bot)."""
    variant = facts_module.load()[intent].variant(region)
    return [first_sentence(text) for text in (variant.answer, variant.family) if text]


# ---- servers ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def web_url(stack) -> str:
    assert "web" in stack.procs, "the stack did not start the web app"
    return stack.settings.web_url


@pytest.fixture(scope="session")
def down_web(test_settings) -> Iterator[str]:
    """A second web app instance whose Rasa port has nothing listening on it."""
    settings = test_settings.replace(rasa_port=free_port(), web_port=free_port())
    with Stack(settings, log_dir=ARTIFACTS / "logs-down") as extra:
        extra.start_web()
        yield settings.web_url


def new_conversation_id() -> str:
    return uuid.uuid4().hex


# ---- browser -----------------------------------------------------------------------


# Package scope: Playwright's sync API keeps an event loop running in this thread while it
# is open, and tests elsewhere that call asyncio.run() must never find it there, whatever
# the order the tests run in.
@pytest.fixture(scope="package")
def chromium_browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


class BrowserSession:
    """One isolated browser context (own sessionStorage and history) and its page."""

    def __init__(self, browser, base_url: str, **context_args) -> None:
        self.base_url = base_url
        self.context = browser.new_context(**{"viewport": DESKTOP, **context_args})
        self.context.set_default_timeout(30_000)
        self.page = self.context.new_page()
        self.console_errors: List[str] = []
        self.page_errors: List[str] = []
        self.foreign_requests: List[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        self.context.route("**/*", self._route)

    def _route(self, route) -> None:
        host = urlparse(route.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        elif host in EXIT_HOSTS:
            route.fulfill(
                status=200, content_type="text/html", body="<!doctype html><title>Weather</title><h1>Weather</h1>"
            )
        else:
            self.foreign_requests.append(route.request.url)
            route.abort()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def browser_session(chromium_browser, web_url) -> Iterator[BrowserSession]:
    session = BrowserSession(chromium_browser, web_url)
    yield session
    session.close()


class Widget:
    """Drives the widget the way a visitor does, and reads what it shows."""

    def __init__(self, page) -> None:
        self.page = page
        self.launcher = page.locator(".hdw-launcher")
        self.panel = page.locator(".hdw-panel")
        self.input = page.locator(".hdw-input")
        self.log = page.locator("[role=log]")
        self.urgent = page.locator(".hdw-urgent")
        self.offline = page.locator(".hdw-offline")

    def goto(self, url: str) -> Widget:
        self.page.goto(url)
        self.launcher.wait_for(state="visible")
        return self

    def open(self, wait_for_greeting: bool = True) -> Widget:
        self.launcher.click()
        self.panel.wait_for(state="visible")
        if wait_for_greeting:
            self.wait_idle(min_bot=1)
        return self

    def bot_messages(self):
        return self.page.locator(".hdw-msg-bot")

    def user_messages(self):
        return self.page.locator(".hdw-msg-user")

    def wait_idle(self, min_bot: int = 0, timeout: float = 60_000) -> None:
        """Wait until no request is in flight and at least `min_bot` bot messages show."""
        self.page.wait_for_function(
            """(n) => !document.querySelector('.hdw-typing-on')
                     && document.querySelectorAll('.hdw-msg-bot').length >= n""",
            arg=min_bot,
            timeout=timeout,
        )

    def send(self, text: str) -> List[str]:
        """Type `text`, press Enter and return the texts of the bot's new messages."""
        before = self.bot_messages().count()
        self.input.fill(text)
        self.input.press("Enter")
        self.wait_idle(min_bot=before + 1)
        return [squash(t) for t in self.bot_messages().all_inner_texts()[before:]]

    def storage(self) -> Dict[str, str]:
        return self.page.evaluate(
            "() => Object.fromEntries(Object.keys(sessionStorage).map(k => [k, sessionStorage.getItem(k)]))"
        )


@pytest.fixture
def widget(browser_session) -> Widget:
    return Widget(browser_session.page)
