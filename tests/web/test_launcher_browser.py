"""The closed widget's urgent line and the region control, in Chromium.

These tests need no trained model: they run against a web app whose Rasa is unreachable
(`down_web`) and answer /api/chat in the browser where a reply is needed, so they check
the widget alone. Every number comes from data/contacts.yml.
"""

from __future__ import annotations

import json
import re
from typing import Dict, List

import pytest

from tests.web.conftest import BrowserSession, Widget, contacts

pytestmark = [pytest.mark.browser]

STORAGE_KEY = "hdw-chat-v1"
REGIONS = ("uk", "us")
NARROW = {"viewport": {"width": 320, "height": 640}, "is_mobile": True, "has_touch": True}


def tel(number: str) -> str:
    return "tel:" + re.sub(r"[^\d+]", "", number)


def urgent_numbers(region: str) -> List[str]:
    """What the closed widget must offer: the emergency number and the crisis line."""
    c = contacts(region)
    return [c["emergency"]["number"], c["crisis_line"]["number"]]


def only_in(region: str) -> List[str]:
    """Numbers of `region` that the other region does not have (e.g. 999, 116 123)."""
    other = {c["number"] for r in REGIONS if r != region for c in contacts(r).values()}
    return [c["number"] for c in contacts(region).values() if c["number"] not in other]


def other(region: str) -> str:
    return "us" if region == "uk" else "uk"


@pytest.fixture
def session_factory(chromium_browser, down_web):
    sessions: List[BrowserSession] = []

    def make(**context_args) -> BrowserSession:
        session = BrowserSession(chromium_browser, down_web, **context_args)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


def fake_chat(session: BrowserSession) -> List[Dict]:
    """Answer /api/chat in the browser; returns the list the request bodies land in."""
    bodies: List[Dict] = []

    def handle(route):
        body = json.loads(route.request.post_data or "{}")
        bodies.append(body)
        route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps({"messages": [{"text": f"Reply for {body.get('region')}."}]}),
        )

    session.context.route("**/api/chat", handle)
    return bodies


def dock_links(page) -> List[Dict]:
    return page.locator(".hdw-dock-urgent a").evaluate_all(
        """els => els.map(a => { const r = a.getBoundingClientRect();
               return {href: a.getAttribute('href'), text: a.textContent,
                       visible: !!(a.offsetWidth || a.offsetHeight),
                       left: r.left, right: r.right, top: r.top, bottom: r.bottom}; })"""
    )


def assert_launcher_line(page, region: str) -> None:
    links = dock_links(page)
    assert [link["href"] for link in links] == [tel(n) for n in urgent_numbers(region)], links
    assert [link["text"] for link in links] == urgent_numbers(region)
    line = page.locator(".hdw-dock-urgent").inner_text()
    for number in only_in(other(region)):
        assert number not in line, (region, number, line)


def assert_fits(page) -> None:
    """The line and the launcher are on screen, unclipped, and nothing scrolls sideways."""
    size = page.viewport_size
    geometry = page.evaluate("""() => {
        const box = s => { const r = document.querySelector(s).getBoundingClientRect();
                           return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
        const line = document.querySelector('.hdw-dock-urgent');
        return {scrollWidth: document.documentElement.scrollWidth,
                innerWidth: window.innerWidth,
                line: box('.hdw-dock-urgent'), launcher: box('.hdw-launcher'),
                lineOverflow: line.scrollWidth - line.clientWidth,
                launcherOverflow: document.querySelector('.hdw-launcher').scrollWidth
                                  - document.querySelector('.hdw-launcher').clientWidth};
    }""")
    assert geometry["scrollWidth"] <= geometry["innerWidth"], geometry
    assert geometry["lineOverflow"] <= 0 and geometry["launcherOverflow"] <= 0, geometry
    for name in ("line", "launcher"):
        box = geometry[name]
        assert box["left"] >= 0 and box["right"] <= size["width"], (name, box, size)
        assert box["top"] >= 0 and box["bottom"] <= size["height"], (name, box, size)
    # The line sits above the launcher, not under or over it.
    assert geometry["line"]["bottom"] <= geometry["launcher"]["top"], geometry
    line = geometry["line"]
    for link in dock_links(page):
        assert link["visible"], link
        assert line["left"] <= link["left"] and link["right"] <= line["right"] + 0.5, (link, line)
        assert line["top"] <= link["top"] and link["bottom"] <= line["bottom"] + 0.5, (link, line)


def zoom_text(page, percent: int) -> None:
    """Text-only zoom: the root font size, as a browser's text-size setting changes it."""
    before = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.hdw-dock-urgent')).fontSize)")
    page.evaluate("(p) => { document.documentElement.style.fontSize = p + '%'; }", percent)
    after = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.hdw-dock-urgent')).fontSize)")
    assert after >= before * percent / 100 - 0.5, (before, after)


# ---- the urgent line on the closed widget ------------------------------------------------

LAYOUTS = {
    "desktop": {},
    "320px": NARROW,
    # 200 % browser zoom on a 640 px wide window lays the page out 320 CSS px wide.
    "320px-page-zoom-200": {**NARROW, "device_scale_factor": 2},
}


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("text_zoom", [100, 200])
def test_closed_widget_shows_region_numbers(session_factory, down_web, region, layout, text_zoom):
    session = session_factory(**LAYOUTS[layout])
    page = session.page
    widget = Widget(page).goto(f"{down_web}/?region={region}")
    if text_zoom != 100:
        zoom_text(page, text_zoom)
    assert widget.panel.is_hidden()
    assert widget.launcher.get_attribute("aria-expanded") == "false"
    assert_launcher_line(page, region)
    assert_fits(page)
    # Sensible accessible names: the number, then who answers.
    c = contacts(region)
    for key in ("emergency", "crisis_line"):
        link = page.get_by_role("link", name=f"{c[key]['number']}, call {c[key]['name']}")
        assert link.count() >= 1, key
    assert page.locator(".hdw-dock-urgent").inner_text().startswith("In danger now?")
    assert session.page_errors == [] and session.foreign_requests == []


# Counts the widget's /api/contacts requests that have settled, one task after the
# widget's own handlers of the answer (or failure) have run.
COUNT_SETTLED_CONTACTS = """(() => {
  const fetch = window.fetch;
  window.__contactsSettled = 0;
  window.fetch = function (input, init) {
    const result = fetch.call(this, input, init);
    if (String(input).includes('/api/contacts')) {
      const count = () => setTimeout(() => { window.__contactsSettled += 1; });
      result.then(count, count);
    }
    return result;
  };
})();"""


@pytest.mark.parametrize("region", REGIONS)
def test_closed_widget_numbers_need_no_network(session_factory, down_web, region):
    """The line comes from widget.js's built-in contacts when /api is unreachable."""
    session = session_factory(**NARROW)
    session.context.route("**/api/**", lambda route: route.abort())
    session.page.add_init_script(COUNT_SETTLED_CONTACTS)
    Widget(session.page).goto(f"{down_web}/?region={region}")
    # the failed /api/contacts must not blank it
    session.page.wait_for_function("() => window.__contactsSettled > 0")
    assert_launcher_line(session.page, region)


@pytest.mark.parametrize("region", REGIONS)
def test_builtin_contacts_mirror_contacts_yml(session_factory, down_web, region):
    """Names, numbers and notes of widget.js's own copy equal data/contacts.yml."""
    session = session_factory()
    session.context.route("**/api/**", lambda route: route.abort())
    widget = Widget(session.page).goto(f"{down_web}/?region={region}")
    widget.open(wait_for_greeting=False)
    widget.offline.wait_for(state="visible")
    items = [re.sub(r"\s+", " ", t).strip() for t in widget.offline.locator("li").all_inner_texts()]
    expected = [
        f"{c['name']}: {c['number']}" + (f" ({c['note']})" if c.get("note") else "") for c in contacts(region).values()
    ]
    assert sorted(items) == sorted(expected)
    assert items[0] == expected[0]  # the emergency number first
    # A number to text gets an sms: link, every other number a tel: link.
    hrefs = widget.offline.locator("li a").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    for key, c in contacts(region).items():
        scheme = "sms:" if key == "text_line" else "tel:"
        assert scheme + re.sub(r"[^\d+]", "", c["number"]) in hrefs, (key, hrefs)


# ---- the region control inside the widget ---------------------------------------------------


@pytest.mark.parametrize("start", REGIONS)
def test_visitor_changes_region_in_the_widget(session_factory, down_web, start):
    new = other(start)
    session = session_factory()
    bodies = fake_chat(session)
    page = session.page
    widget = Widget(page).goto(f"{down_web}/?region={start}")
    assert_launcher_line(page, start)
    widget.open()
    assert bodies and bodies[-1]["region"] == start  # the greeting

    select = page.get_by_label("Region")
    assert select.input_value() == start
    select.select_option(new)
    # Said politely to screen readers, with the new numbers.
    status = page.locator("[role=status][aria-live=polite]").filter(has_text="Region changed")
    status.wait_for()
    assert all(n in status.inner_text() for n in urgent_numbers(new))
    urgent = widget.urgent.inner_text()
    assert all(n in urgent for n in urgent_numbers(new)), urgent
    assert not any(n in urgent for n in only_in(start)), urgent

    # Every later message carries the new region.
    widget.send("hello")
    assert bodies[-1]["region"] == new
    assert json.loads(widget.storage()[STORAGE_KEY])["region"] == new

    # The closed widget shows the new region's numbers, and they survive a reload.
    page.keyboard.press("Escape")
    widget.panel.wait_for(state="hidden")
    assert_launcher_line(page, new)
    page.reload()
    widget.launcher.wait_for()
    assert_launcher_line(page, new)
    widget.open(wait_for_greeting=False)
    assert page.get_by_label("Region").input_value() == new

    # Offline, the contacts shown are the chosen region's and only those.
    session.context.unroute("**/api/chat")
    session.context.route("**/api/chat", lambda route: route.abort())
    widget.input.fill("are you there")
    widget.input.press("Enter")
    widget.offline.wait_for(state="visible")
    shown = widget.offline.inner_text()
    assert all(c["number"] in shown for c in contacts(new).values()), shown
    assert not any(n in shown for n in only_in(start)), shown
    assert session.page_errors == [] and session.foreign_requests == []


def test_region_choice_outlasts_clear_but_not_quick_exit(session_factory, down_web):
    session = session_factory()
    bodies = fake_chat(session)
    page = session.page
    widget = Widget(page).goto(f"{down_web}/?region=uk")
    widget.open()
    page.get_by_label("Region").select_option("us")
    page.locator(".hdw-clear").click()
    widget.wait_idle(min_bot=1)
    assert bodies[-1]["region"] == "us"  # the new greeting
    assert page.get_by_label("Region").input_value() == "us"
    assert_launcher_line(page, "us")

    # The quick exit forgets everything; the quick exit target follows the chosen region.
    page.locator(".hdw-exit").click()
    page.wait_for_url("https://weather.com/**")
    Widget(page).goto(f"{down_web}/?region=uk")
    assert_launcher_line(page, "uk")


def test_region_switch_by_keyboard_keeps_focus(session_factory, down_web):
    session = session_factory()
    fake_chat(session)
    page = session.page
    widget = Widget(page).goto(f"{down_web}/?region=uk")
    widget.open()
    page.get_by_label("Region").focus()
    page.keyboard.press("ArrowDown")
    page.wait_for_function("() => document.querySelector('.hdw-region-select').value === 'us'")
    assert page.evaluate("document.activeElement.classList.contains('hdw-region-select')")
    assert all(n in widget.urgent.inner_text() for n in urgent_numbers("us"))


@pytest.mark.parametrize("layout", ["desktop", "320px"])
def test_open_panel_with_large_text_keeps_controls_on_screen(session_factory, down_web, layout):
    """At 200 % text the panel's header wraps instead of pushing Quick exit off screen."""
    session = session_factory(**LAYOUTS[layout])
    fake_chat(session)
    page = session.page
    widget = Widget(page).goto(f"{down_web}/?region=uk")
    zoom_text(page, 200)
    widget.open()
    size = page.viewport_size
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for selector in (".hdw-exit", ".hdw-close", ".hdw-input", ".hdw-send", ".hdw-urgent a"):
        box = page.locator(selector).first.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= size["width"] + 0.5, selector
        assert box["y"] >= 0 and box["y"] + box["height"] <= size["height"] + 0.5, selector
    # The conversation keeps some room to be read.
    assert page.locator(".hdw-log").bounding_box()["height"] >= 80
