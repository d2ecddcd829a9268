"""In Chromium, visitor messages that contain markup are shown as text and run nothing."""

from __future__ import annotations

import uuid

import pytest

from tests.browser import launch_chromium
from tests.staff.conftest import PASSWORD, write_conversation

playwright_sync = pytest.importorskip("playwright.sync_api")

SCRIPT_MSG = "<script>window.__pwned = 'script'; alert('script')</script> help me"
IMG_MSG = "<img src=x onerror=\"window.__pwned='img'; alert('img')\"> is methadone safe"
SVG_MSG = '<svg onload="window.__pwned=\'svg\'"></svg>"><b>bold?</b>'


@pytest.mark.browser
def test_markup_in_visitor_messages_is_inert_text_in_the_transcript(console):
    sid = f"xss-{uuid.uuid4().hex[:6]}"
    write_conversation(
        console.db_url,
        sid,
        [
            (SCRIPT_MSG, "crisis_suicidal", 0.9, "Please call 999.", {"utter_action": "utter_crisis_suicidal"}),
            (IMG_MSG, "methadone_info", 0.8, "Methadone is a medicine...", {"fact": "methadone_info"}),
            (SVG_MSG, "nlu_fallback", 0.2, "Sorry?", {"utter_action": "utter_default"}),
        ],
    )
    with playwright_sync.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page()
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(f"{console.url}/staff/login")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/staff/conversations**")
            # the list shows the first message as a preview: also inert
            page.goto(f"{console.url}/staff/conversations?q=help+me")
            assert page.locator("td.preview").first.inner_text().startswith("<script>")
            page.goto(f"{console.url}/staff/conversations/{sid}")
            texts = page.locator("li.visitor .text").all_inner_texts()
            assert texts == [SCRIPT_MSG, IMG_MSG, SVG_MSG]
            assert page.locator("li.visitor img, li.visitor svg, li.visitor b, main script").count() == 0
            # an onerror handler would have run by the time every image has loaded or failed
            page.wait_for_function("() => Array.from(document.images).every(img => img.complete)")
            assert page.evaluate("window.__pwned") is None
            assert dialogs == []
        finally:
            browser.close()
