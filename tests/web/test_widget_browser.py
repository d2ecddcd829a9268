"""The chat widget in a real browser (Debian's Chromium via Playwright) against the real
stack: Rasa server, action server and the web app, started once per session.

Assertions never hard-code the bot's wording: answers are compared with data/facts.yml
and contact numbers with data/contacts.yml.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from playwright.sync_api import expect

from tests.web.conftest import (
    ARTIFACTS,
    AXE_JS,
    PHONE,
    SCREENSHOTS,
    BrowserSession,
    Widget,
    contacts,
    curated_openings,
    facts,
    squash,
)

pytestmark = [pytest.mark.browser, pytest.mark.stack]

STORAGE_KEY = "hdw-chat-v1"
# Topics whose answer may start with a follow-up question (e.g. "what did you last use?").
FOLLOW_UP_TOPICS = {"withdrawal_timeline", "buprenorphine_timing"}


def assert_clean(session: BrowserSession) -> None:
    assert session.page_errors == []
    assert session.foreign_requests == []
    csp = [e for e in session.console_errors if "Content Security Policy" in e]
    assert csp == []


def contains_opening(texts, intent: str) -> bool:
    joined = " ".join(texts)
    return any(opening in joined for opening in curated_openings(intent))


def topic_button(widget: Widget):
    """A visible quick-reply button that asks for a curated fact directly."""
    buttons = widget.page.locator(".hdw-quick-reply")
    buttons.first.wait_for()
    known = facts()
    titles = buttons.all_inner_texts()
    payloads = widget.page.evaluate(
        """() => { const s = JSON.parse(sessionStorage.getItem('hdw-chat-v1'));
                   const last = s.messages[s.messages.length - 1];
                   return (last.buttons || []).map(b => b.payload); }"""
    )
    assert len(titles) == len(payloads)
    for index, (title, payload) in enumerate(zip(titles, payloads)):
        intent = payload.lstrip("/").split("{", 1)[0]
        if intent in known and intent not in FOLLOW_UP_TOPICS:
            return buttons.nth(index), title, intent
    pytest.fail(f"no quick reply for a curated topic among {payloads}")


# ---- conversation ---------------------------------------------------------------------


def test_contract_question_gets_the_curated_answer(widget, browser_session, web_url):
    widget.goto(web_url).open()
    uk = contacts("uk")
    urgent = widget.urgent.inner_text()
    assert "Urgent help" in urgent
    assert uk["emergency"]["number"] in urgent and uk["crisis_line"]["number"] in urgent

    replies = widget.send("what is naloxone")
    assert contains_opening(replies, "naloxone"), replies
    assert widget.user_messages().last.inner_text().endswith("what is naloxone")
    assert_clean(browser_session)


def test_quick_reply_click_shows_its_answer(widget, browser_session, web_url):
    widget.goto(web_url).open()
    button, title, intent = topic_button(widget)
    before = widget.bot_messages().count()
    button.click()
    widget.wait_idle(min_bot=before + 1)
    # The visitor's bubble shows the button's title, not its payload.
    assert squash(widget.user_messages().last.inner_text()).endswith(squash(title))
    assert "/" + intent not in widget.log.inner_text()
    replies = [squash(t) for t in widget.bot_messages().all_inner_texts()[before:]]
    assert contains_opening(replies, intent), (intent, replies)
    # The clicked set of quick replies is gone; focus went back to the input.
    assert widget.page.evaluate("document.activeElement.classList.contains('hdw-input')")
    assert_clean(browser_session)


@pytest.mark.parametrize("region", ["uk", "us"])
def test_crisis_message_shows_crisis_contacts(widget, browser_session, web_url, region):
    widget.goto(f"{web_url}/?region={region}").open()
    expected = contacts(region)
    urgent = widget.urgent.inner_text()
    assert expected["emergency"]["number"] in urgent
    assert expected["crisis_line"]["number"] in urgent

    replies = " ".join(widget.send("I want to kill myself"))
    assert expected["emergency"]["number"] in replies, replies
    assert expected["crisis_line"]["number"] in replies, replies
    # The numbers in the bot's reply are real tel: links.
    hrefs = widget.page.locator(".hdw-msg-bot a[href^='tel:']").evaluate_all(
        "els => els.map(a => a.getAttribute('href'))"
    )
    assert "tel:" + re.sub(r"[^\d+]", "", expected["emergency"]["number"]) in hrefs
    assert_clean(browser_session)


@pytest.mark.parametrize("start", ["uk", "us"])
def test_region_changed_in_the_widget_reaches_the_bot(widget, browser_session, web_url, start):
    """A visitor on a page set to one region picks the other: the launcher line and the
    bot's crisis reply both carry the chosen region's numbers, and only those."""
    chosen = "us" if start == "uk" else "uk"
    widget.goto(f"{web_url}/?region={start}").open()
    widget.page.get_by_label("Region").select_option(chosen)
    expected, previous = contacts(chosen), contacts(start)
    only_previous = [
        c["number"] for c in previous.values() if c["number"] not in {x["number"] for x in expected.values()}
    ]

    replies = " ".join(widget.send("I want to kill myself"))
    assert expected["emergency"]["number"] in replies, replies
    assert expected["crisis_line"]["number"] in replies, replies
    assert not any(n in replies for n in only_previous), replies

    widget.page.keyboard.press("Escape")
    widget.panel.wait_for(state="hidden")
    hrefs = widget.page.locator(".hdw-dock-urgent a").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    assert hrefs == ["tel:" + re.sub(r"[^\d+]", "", expected[k]["number"]) for k in ("emergency", "crisis_line")]
    assert_clean(browser_session)


# ---- storage: reload, clear, quick exit -------------------------------------------------


def test_reload_keeps_conversation_and_clear_empties_it(widget, browser_session, web_url):
    widget.goto(web_url).open()
    widget.send("what is naloxone")
    texts_before = widget.log.inner_text()
    stored = widget.storage()
    assert list(stored) == [STORAGE_KEY]
    conversation_id = json.loads(stored[STORAGE_KEY])["id"]
    assert re.fullmatch(r"[0-9a-f]{32}", conversation_id)
    assert widget.page.evaluate("localStorage.length") == 0
    assert browser_session.context.cookies() == []

    widget.page.reload()
    widget.launcher.wait_for()
    widget.panel.wait_for(state="visible")  # it was open, so it opens again
    assert widget.log.inner_text() == texts_before
    assert json.loads(widget.storage()[STORAGE_KEY])["id"] == conversation_id

    widget.page.locator(".hdw-clear").click()
    widget.wait_idle()
    assert widget.user_messages().count() == 0
    assert not contains_opening(widget.bot_messages().all_inner_texts(), "naloxone")
    stored = widget.storage()
    new_id = json.loads(stored[STORAGE_KEY])["id"] if stored else None
    assert new_id != conversation_id
    assert "what is naloxone" not in json.dumps(stored)
    assert widget.page.evaluate("document.activeElement.classList.contains('hdw-input')")

    widget.page.reload()
    widget.launcher.wait_for()
    assert widget.user_messages().count() == 0
    assert not contains_opening(widget.bot_messages().all_inner_texts(), "naloxone")
    assert_clean(browser_session)


def test_quick_exit_clears_storage_and_back_does_not_return(widget, browser_session, web_url):
    page = widget.page
    page.goto(f"{web_url}/healthz")  # where the visitor was before the site
    widget.goto(web_url).open()
    widget.send("what is naloxone")
    assert STORAGE_KEY in widget.storage()

    page.locator(".hdw-exit").click()
    page.wait_for_url("https://www.bbc.co.uk/**")
    page.go_back()
    assert page.url == f"{web_url}/healthz"  # the chat page is no longer in the history
    assert page.evaluate("sessionStorage.length") == 0
    page.go_forward()
    assert page.url.startswith("https://www.bbc.co.uk/")
    assert_clean(browser_session)


def test_escape_twice_is_a_quick_exit(widget, browser_session, web_url):
    page = widget.page
    page.goto(f"{web_url}/healthz")
    widget.goto(f"{web_url}/?region=us").open()
    assert STORAGE_KEY in widget.storage()
    page.locator("main h1").click()  # focus anywhere on the page
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    page.wait_for_url("https://weather.com/**")
    page.go_back()
    assert page.url == f"{web_url}/healthz"
    assert page.evaluate("sessionStorage.length") == 0


# ---- keyboard and accessibility ----------------------------------------------------------


def focused(page, selector: str) -> bool:
    return page.evaluate("(s) => !!document.activeElement && document.activeElement.matches(s)", selector)


def test_keyboard_only_conversation(widget, browser_session, web_url):
    page = widget.page
    page.clock.install()  # time still flows; the test can also move it on at once
    widget.goto(web_url)
    for _ in range(40):
        page.keyboard.press("Tab")
        if focused(page, ".hdw-launcher"):
            break
    else:
        pytest.fail("Tab never reached the chat launcher")
    # A visible focus ring.
    ring = page.evaluate("getComputedStyle(document.activeElement).boxShadow")
    assert ring and ring != "none"

    page.keyboard.press("Enter")
    widget.panel.wait_for(state="visible")
    assert focused(page, ".hdw-input"), "opening the panel moves focus to the input"
    assert widget.launcher.get_attribute("aria-expanded") == "true"
    widget.wait_idle(min_bot=1)

    before = widget.bot_messages().count()
    page.keyboard.type("what is naloxone")
    page.keyboard.press("Enter")
    widget.wait_idle(min_bot=before + 1)
    assert contains_opening(widget.bot_messages().all_inner_texts()[before:], "naloxone")
    assert focused(page, ".hdw-input")

    # Shift+Tab from the input reaches the last quick reply; Enter picks it.
    page.keyboard.press("Shift+Tab")
    assert focused(page, ".hdw-quick-reply"), "quick replies are reachable by keyboard"
    title = page.evaluate("document.activeElement.textContent")
    before = widget.bot_messages().count()
    page.keyboard.press("Enter")
    widget.wait_idle(min_bot=before + 1)
    assert squash(widget.user_messages().last.inner_text()).endswith(squash(title))

    # Escape closes the panel and gives focus back to the launcher.
    page.keyboard.press("Escape")
    widget.panel.wait_for(state="hidden")
    assert focused(page, ".hdw-launcher")
    assert widget.launcher.get_attribute("aria-expanded") == "false"
    # A later, single Escape is not a quick exit: move past any double-press window.
    page.clock.fast_forward("00:05")
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    widget.panel.wait_for(state="visible")
    assert page.url.startswith(web_url)
    assert_clean(browser_session)


def run_axe(page) -> list:
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} missing: run `npm ci --prefix tests/web`")
    # Evaluated through the DevTools protocol, so the page's CSP (no inline scripts)
    # does not have to be loosened for the test.
    page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;void 0;")
    results = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.map(n => n.target.join(' '))}));
    }""")
    return [v for v in results if v["impact"] in ("serious", "critical")]


def test_axe_finds_no_serious_or_critical_violations(chromium_browser, web_url):
    for context_args in ({}, PHONE):
        session = BrowserSession(chromium_browser, web_url, **context_args)
        try:
            widget = Widget(session.page).goto(web_url)
            assert run_axe(session.page) == [], "closed widget"
            widget.open()
            widget.send("what is naloxone")
            assert run_axe(session.page) == [], "open widget with a conversation"
            session.context.route("**/api/chat", lambda route: route.abort())
            widget.input.fill("are you there")
            widget.input.press("Enter")
            widget.offline.wait_for(state="visible")
            assert run_axe(session.page) == [], "offline state"
        finally:
            session.close()


def test_reduced_motion_is_respected(chromium_browser, web_url):
    session = BrowserSession(chromium_browser, web_url, reduced_motion="reduce")
    try:
        Widget(session.page).goto(web_url).open()
        duration = session.page.evaluate(
            "parseFloat(getComputedStyle(document.querySelector('.hdw-panel')).animationDuration)"
        )
        assert duration < 0.01
    finally:
        session.close()


def test_aria_structure(widget, web_url):
    widget.goto(web_url).open()
    log = widget.log
    assert log.get_attribute("aria-live") == "polite"
    assert log.get_attribute("aria-label")
    panel = widget.panel
    assert panel.get_attribute("role") == "dialog"
    assert panel.get_attribute("aria-labelledby")
    assert widget.page.get_by_label("Your message").count() == 1
    assert widget.page.get_by_role("button", name="Quick exit").count() == 1
    assert widget.page.get_by_role("button", name="Clear conversation").count() == 1
    assert widget.page.get_by_role("button", name="Close chat").count() == 1


def test_character_counter_near_the_limit(widget, web_url, test_settings):
    widget.goto(web_url).open()
    limit = test_settings.max_message_chars
    counter = widget.page.locator(".hdw-counter")
    assert widget.input.get_attribute("maxlength") == str(limit)
    widget.input.fill("a" * (int(limit * 0.8) - 1))
    assert counter.is_hidden()
    widget.input.fill("a" * int(limit * 0.85))
    assert counter.is_visible()
    assert str(int(limit * 0.85)) in counter.inner_text() and str(limit) in counter.inner_text()


def test_phone_layout_is_full_screen(chromium_browser, web_url):
    session = BrowserSession(chromium_browser, web_url, **PHONE)
    try:
        widget = Widget(session.page).goto(web_url).open()
        # the panel rises into place (a 160 ms animation): measure where it comes to rest
        session.page.wait_for_function("() => document.getAnimations().every(a => a.playState === 'finished')")
        box = widget.panel.bounding_box()
        viewport = session.page.viewport_size
        assert box["x"] == 0 and box["y"] == 0
        assert box["width"] == viewport["width"]
        assert abs(box["height"] - viewport["height"]) <= 1
        form = session.page.locator(".hdw-form").bounding_box()
        assert form["y"] + form["height"] <= viewport["height"] + 1
    finally:
        session.close()


# ---- nothing anyone typed or the bot sent is run as code ------------------------------------


def test_html_in_a_message_is_shown_as_text_and_runs_nothing(widget, browser_session, web_url):
    widget.goto(web_url).open()
    hostile = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    widget.send(hostile)
    page = widget.page
    assert squash(widget.user_messages().last.inner_text()).endswith(squash(hostile))
    assert page.locator("[role=log] img, [role=log] script").count() == 0
    # an onerror handler would have run by the time every image has loaded or failed
    page.wait_for_function("() => Array.from(document.images).every(img => img.complete)")
    assert page.evaluate("window.__xss") is None
    # Stored as plain text too, and still inert after a reload.
    page.reload()
    widget.launcher.wait_for()
    widget.panel.wait_for(state="visible")
    assert page.locator("[role=log] img, [role=log] script").count() == 0
    assert page.evaluate("window.__xss") is None
    assert_clean(browser_session)


def test_bot_text_is_never_parsed_as_html(widget, browser_session, web_url):
    """The widget's rendering of a hostile bot reply (substituted in the browser)."""
    widget.goto(web_url).open()
    reply = {
        "messages": [
            {
                "text": '<img src=x onerror="window.__xss=3"> see javascript:window.__xss=4 or '
                "https://example.org/help?a=1&b=<b>2</b>.\n\n- call 999 now",
                "buttons": [{"title": "<b onmouseover=window.__xss=5>bold</b>", "payload": "/greet"}],
            }
        ]
    }
    widget.page.route(
        "**/api/chat", lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(reply))
    )
    widget.send("hello")
    page = widget.page
    bubble = widget.bot_messages().last
    assert "<img src=x" in bubble.inner_text()
    assert page.locator("[role=log] img, [role=log] b, [role=log] script").count() == 0
    hrefs = bubble.locator("a").evaluate_all("els => els.map(a => a.href)")
    assert hrefs and all(h.startswith(("https:", "tel:")) for h in hrefs), hrefs
    assert "javascript:" not in " ".join(hrefs)
    assert page.locator(".hdw-quick-reply").inner_text() == "<b onmouseover=window.__xss=5>bold</b>"
    page.locator(".hdw-quick-reply").hover()
    assert page.evaluate("window.__xss") is None
    assert_clean(browser_session)


# ---- screenshots for the README ---------------------------------------------------------


def test_screenshots_of_the_demo_page(chromium_browser, web_url):
    """What the README's screenshots show is what a visitor sees: the urgent numbers on the
    closed widget, and a curated answer in the open one, all on screen.

    Always saved under tests/.artifacts/screenshots; with UPDATE_SCREENSHOTS=1 also
    written to docs/screenshots/ (the copies the README shows)."""
    targets = [ARTIFACTS / "screenshots"]
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        targets.append(SCREENSHOTS)
    for target in targets:
        target.mkdir(parents=True, exist_ok=True)
    uk = contacts("uk")
    # The closed widget on a phone: the urgent line shows before anyone opens the chat.
    session = BrowserSession(chromium_browser, web_url, reduced_motion="reduce", **PHONE)
    try:
        widget = Widget(session.page).goto(web_url)
        urgent_line = session.page.locator(".hdw-dock-urgent")
        expect(urgent_line).to_be_in_viewport(ratio=1)
        expect(widget.launcher).to_be_in_viewport(ratio=1)
        for key in ("emergency", "crisis_line"):
            expect(urgent_line).to_contain_text(uk[key]["number"])
        for target in targets:
            session.page.screenshot(path=str(target / "demo-phone-closed.png"))
    finally:
        session.close()
    for name, context_args in (("desktop", {}), ("phone", PHONE)):
        session = BrowserSession(chromium_browser, web_url, reduced_motion="reduce", **context_args)
        try:
            widget = Widget(session.page).goto(web_url).open()
            replies = widget.send("What are the symptoms of withdrawal?")
            assert contains_opening(replies, "withdrawal_symptoms"), replies
            session.page.locator(".hdw-log").evaluate("el => el.scrollTop = 0")
            for part in (widget.panel, widget.urgent, widget.input):
                expect(part).to_be_in_viewport()
            expect(widget.input).to_be_in_viewport(ratio=1)
            for target in targets:
                session.page.screenshot(path=str(target / f"demo-{name}.png"))
        finally:
            session.close()


# ---- offline ------------------------------------------------------------------------


def test_builtin_contacts_show_when_the_app_is_unreachable(chromium_browser, web_url):
    """widget.js's own copy of the numbers equals data/contacts.yml."""
    for region in ("uk", "us"):
        session = BrowserSession(chromium_browser, web_url)
        try:
            session.context.route("**/api/**", lambda route: route.abort())
            widget = Widget(session.page).goto(f"{web_url}/?region={region}")
            widget.open(wait_for_greeting=False)
            widget.offline.wait_for(state="visible")
            shown = widget.offline.inner_text() + widget.urgent.inner_text()
            for contact in contacts(region).values():
                assert contact["number"] in shown, (region, contact)
        finally:
            session.close()


def test_network_failure_shows_offline_state_then_retry_recovers(widget, browser_session, web_url):
    widget.goto(web_url).open()
    page = widget.page
    page.route("**/api/chat", lambda route: route.abort())
    widget.input.fill("what is naloxone")
    widget.input.press("Enter")
    widget.offline.wait_for(state="visible")
    text = widget.offline.inner_text()
    assert re.search(r"Trying again in \d+ seconds?", text)
    for contact in contacts("uk").values():
        assert contact["number"] in text
    assert page.locator(".hdw-msg-pending").count() == 1

    page.unroute("**/api/chat")
    before = widget.bot_messages().count()
    page.get_by_role("button", name="Try again now").click()
    widget.wait_idle(min_bot=before + 1)
    widget.offline.wait_for(state="hidden")
    assert page.locator(".hdw-msg-pending").count() == 0
    assert contains_opening(widget.bot_messages().all_inner_texts()[before:], "naloxone")


def test_rasa_stopped_shows_offline_state_and_contacts(stack, chromium_browser, web_url):
    """Stops the shared Rasa server and starts it again before it returns, so the tests
    that run after it, in any order, find the stack as it was."""
    session = BrowserSession(chromium_browser, web_url, viewport={"width": 390, "height": 844})
    try:
        widget = Widget(session.page).goto(web_url).open()
        stack.stop("rasa")
        widget.input.fill("what is naloxone")
        widget.input.press("Enter")
        widget.offline.wait_for(state="visible")
        shown = widget.offline.inner_text()
        for contact in contacts("uk").values():
            assert contact["number"] in shown
        urgent = widget.urgent.inner_text()
        assert contacts("uk")["emergency"]["number"] in urgent
        session.page.screenshot(path=str(ARTIFACTS / "offline-phone.png"))
        stack.start_rasa()
        before = widget.bot_messages().count()
        session.page.get_by_role("button", name="Try again now").click()
        widget.wait_idle(min_bot=before + 1)
        widget.offline.wait_for(state="hidden")
    finally:
        session.close()
        if "rasa" not in stack.procs:
            stack.start_rasa()


def test_too_many_messages_is_answered_calmly_with_the_contacts(widget, browser_session, web_url):
    """A 429 from /api/chat (the body the web app sends: its error, region and contacts):
    the widget says so calmly, shows the region's numbers as tel: links, keeps the message
    and waits as long as Retry-After asks before trying again."""
    from bot import contacts as contacts_module

    widget.goto(f"{web_url}/?region=us").open()
    page = widget.page
    body = {
        "error": "Lots of messages just now; please wait a moment and try again.",
        "region": "us",
        "contacts": contacts_module.for_region("us"),
    }
    page.route(
        "**/api/chat",
        lambda route: route.fulfill(
            status=429,
            content_type="application/json",
            headers={"Retry-After": "7", "Cache-Control": "no-store"},
            body=json.dumps(body),
        ),
    )
    widget.input.fill("what is naloxone")
    widget.input.press("Enter")
    widget.offline.wait_for(state="visible")
    text = squash(widget.offline.inner_text())
    assert "Lots of messages just now; please wait a moment and try again." in text
    assert "If you're in danger now:" in text
    assert re.search(r"Trying again in 7 seconds", text), text
    links = widget.offline.locator("a[href^='tel:']")
    numbers = " ".join(links.all_inner_texts())
    for contact in contacts("us").values():
        assert contact["number"] in numbers, contact
    pending = page.locator(".hdw-msg-pending")
    assert pending.count() == 1 and "what is naloxone" in pending.inner_text()

    page.unroute("**/api/chat")
    before = widget.bot_messages().count()
    page.get_by_role("button", name="Try again now").click()
    widget.wait_idle(min_bot=before + 1)
    widget.offline.wait_for(state="hidden")
    assert page.locator(".hdw-msg-pending").count() == 0
    answer = " ".join(widget.bot_messages().all_inner_texts()[before:])
    assert any(opening in answer for opening in curated_openings("naloxone", "us"))
    assert_clean(browser_session)
