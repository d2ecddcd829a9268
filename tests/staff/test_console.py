"""The staff console over HTTP against the real web app: access control, CSRF, throttling,
the audit log, the conversation list and transcript view."""

from __future__ import annotations

import re
import time
import uuid

import pytest
import requests
import sqlalchemy as sa

from bot.web.security import SECURITY_HEADERS
from bot.web.staff.routes import router
from tests.staff.conftest import PASSWORD, csrf_of, write_conversation

PUBLIC = {"/staff/login", "/staff/static/{name}"}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "1" if "event_id" in m.group(0) else "some-conversation", path)


def staff_routes():
    for route in router.routes:
        for method in sorted(route.methods):
            if route.path not in PUBLIC and method != "HEAD":
                yield method, route.path


@pytest.fixture(scope="module")
def seeded(console):
    crisis_id, plain_id, fallback_id = (f"{name}-{uuid.uuid4().hex[:6]}" for name in ("crisis", "plain", "fallback"))
    now = time.time()
    write_conversation(
        console.db_url,
        plain_id,
        [
            (
                "how long does withdrawal last",
                "withdrawal_timeline",
                0.93,
                "Most physical symptoms peak around day 2-3.",
                {"fact": "withdrawal_timeline"},
            ),
        ],
        start=now - 300,
    )
    write_conversation(
        console.db_url,
        crisis_id,
        [
            (
                "i want to end it all tonight",
                "crisis_suicidal",
                0.88,
                "Please call 999 or Samaritans on 116 123 now.",
                {"utter_action": "utter_crisis_suicidal"},
            ),
        ],
        start=now - 600,
    )
    write_conversation(
        console.db_url,
        fallback_id,
        [
            (
                "blorp the thing with the methadone",
                "nlu_fallback",
                0.31,
                "Sorry, I didn't understand.",
                {"utter_action": "utter_default"},
            ),
        ],
        start=now - 200,
    )
    return {"crisis": crisis_id, "plain": plain_id, "fallback": fallback_id}


@pytest.mark.parametrize("method,path", list(staff_routes()))
def test_every_staff_route_redirects_anonymous_visitors_to_login(console, method, path):
    response = requests.request(
        method,
        console.url + concrete(path),
        allow_redirects=False,
        data={"csrf_token": "x"} if method == "POST" else None,
    )
    assert response.status_code == 303, (method, path, response.status_code)
    assert response.headers["location"].startswith("/staff/login")


def test_login_page_sets_strict_httponly_cookies_and_no_inline_script(console):
    http = console.login()
    cookie = next(c for c in http.cookies if c.name == "staff_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    page = http.get(console.url + "/staff/conversations")
    raw_cookie_header = requests.get(console.url + "/staff/login").headers["set-cookie"]
    assert "httponly" in raw_cookie_header.lower() and "samesite=strict" in raw_cookie_header.lower()
    csp = page.headers["content-security-policy"]
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "<script>" not in page.text and "onclick=" not in page.text


@pytest.mark.parametrize("path", ["/staff/login", "/staff/conversations", "/staff/static/staff.css"])
def test_console_answers_to_the_one_site_policy_and_is_never_cached(console, path):
    http = requests.Session() if path == "/staff/login" else console.login()
    response = http.get(console.url + path, allow_redirects=False)
    assert response.status_code == 200
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (path, name)
    assert response.headers["cache-control"] == "no-store"


def test_login_sets_samesite_strict_session_cookie(console):
    http = requests.Session()
    token = csrf_of(http.get(console.url + "/staff/login").text)
    response = http.post(
        console.url + "/staff/login",
        allow_redirects=False,
        data={"username": "alice", "password": PASSWORD, "csrf_token": token},
    )
    header = response.headers["set-cookie"].lower()
    assert "staff_session=" in header and "httponly" in header and "samesite=strict" in header


def test_wrong_password_is_refused_and_login_without_token_is_forbidden(console):
    http = requests.Session()
    token = csrf_of(http.get(console.url + "/staff/login").text)
    bad = http.post(console.url + "/staff/login", data={"username": "alice", "password": "nope", "csrf_token": token})
    assert bad.status_code == 401 and "Wrong username, password or code." in bad.text
    forged = requests.post(console.url + "/staff/login", data={"username": "alice", "password": PASSWORD})
    assert forged.status_code == 403


def test_forged_form_without_csrf_token_is_rejected(console, seeded):
    http = console.login()
    sid = seeded["plain"]
    before = http.get(f"{console.url}/staff/conversations/{sid}").text
    assert "Mark reviewed" in before
    for data in ({"reviewed": "yes"}, {"reviewed": "yes", "csrf_token": "forged"}):
        response = http.post(f"{console.url}/staff/conversations/{sid}/review", data=data, allow_redirects=False)
        assert response.status_code == 403
    assert "Mark reviewed" in http.get(f"{console.url}/staff/conversations/{sid}").text  # nothing changed
    export = http.post(f"{console.url}/staff/export/conversations", data={"format": "json"})
    assert export.status_code == 403


def test_login_is_throttled_after_repeated_failures(console):
    name = f"mallory{uuid.uuid4().hex[:4]}"
    http = requests.Session()
    statuses = []
    for _ in range(7):
        token = csrf_of(http.get(console.url + "/staff/login").text)
        statuses.append(
            http.post(
                console.url + "/staff/login", data={"username": name, "password": "guess", "csrf_token": token}
            ).status_code
        )
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]


def test_logout_ends_the_session(console):
    http = console.login()
    page = http.get(console.url + "/staff/conversations")
    assert page.status_code == 200
    out = http.post(console.url + "/staff/logout", data={"csrf_token": csrf_of(page.text)}, allow_redirects=False)
    assert out.status_code == 303
    again = http.get(console.url + "/staff/conversations", allow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/staff/login")


def test_idle_session_expires(console):
    http = console.login()
    assert http.get(console.url + "/staff/conversations", allow_redirects=False).status_code == 200
    engine = sa.create_engine(console.db_url)
    with engine.begin() as c:  # age every session past the 30-minute idle timeout
        c.execute(sa.text("UPDATE staff_sessions SET last_seen_at = :t"), {"t": "2000-01-01 00:00:00.000000"})
    engine.dispose()
    response = http.get(console.url + "/staff/conversations", allow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/staff/login")


def test_needs_review_view_puts_unreviewed_crisis_first(console, seeded):
    http = console.login()
    page = http.get(console.url + "/staff/conversations?view=needs_review").text
    order = re.findall(r'href="/staff/conversations/([^"?]+)"', page)
    assert order and order[0] == seeded["crisis"]
    assert "CRISIS" in page


def test_list_filters(console, seeded):
    http = console.login()

    def ids(query):
        page = http.get(console.url + "/staff/conversations?" + query).text
        return set(re.findall(r'href="/staff/conversations/([^"?]+)"', page))

    assert seeded["crisis"] in ids("crisis=yes") and seeded["plain"] not in ids("crisis=yes")
    assert seeded["fallback"] in ids("fallback=yes") and seeded["plain"] not in ids("fallback=yes")
    assert ids("intent=withdrawal_timeline") >= {seeded["plain"]} and seeded["crisis"] not in ids(
        "intent=withdrawal_timeline"
    )
    assert seeded["plain"] in ids("q=WITHDRAWAL+last") and seeded["crisis"] not in ids("q=withdrawal+last")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert seeded["plain"] in ids(f"date_from={today}&date_to={today}")
    assert seeded["plain"] not in ids("date_to=2001-01-01")
    # review and tag one, then filter on both
    page = http.get(f"{console.url}/staff/conversations/{seeded['fallback']}").text
    token = csrf_of(page)
    conversation = f"{console.url}/staff/conversations/{seeded['fallback']}"
    http.post(f"{conversation}/tags", data={"tag": "Misunderstood", "csrf_token": token})
    http.post(f"{conversation}/review", data={"reviewed": "yes", "csrf_token": token})
    assert ids("tag=misunderstood") == {seeded["fallback"]}
    assert seeded["fallback"] in ids("reviewed=yes") and seeded["fallback"] not in ids("reviewed=no")
    assert seeded["fallback"] not in ids("view=needs_review")


def test_transcript_shows_intent_confidence_entities_and_reply_source(console, seeded):
    http = console.login()
    page = http.get(f"{console.url}/staff/conversations/{seeded['plain']}").text
    assert "how long does withdrawal last" in page
    assert "withdrawal_timeline" in page and "93%" in page
    assert "fact: withdrawal_timeline" in page
    crisis = http.get(f"{console.url}/staff/conversations/{seeded['crisis']}").text
    assert "response: utter_crisis_suicidal" in crisis and "88%" in crisis
    fallback = http.get(f"{console.url}/staff/conversations/{seeded['fallback']}").text
    assert "medication=methadone" in fallback


def test_audit_log_records_logins_views_and_exports(console, seeded):
    http = console.login()
    sid = seeded["crisis"]
    page = http.get(f"{console.url}/staff/conversations/{sid}")
    token = csrf_of(page.text)
    csv_export = http.post(f"{console.url}/staff/export/conversations", data={"format": "csv", "csrf_token": token})
    assert csv_export.status_code == 200 and csv_export.text.startswith("conversation_id,")
    assert "attachment" in csv_export.headers["content-disposition"]
    nlu = http.post(f"{console.url}/staff/export/nlu", data={"csrf_token": token})
    assert nlu.status_code == 200 and nlu.text.startswith('version: "3.1"')
    audit = http.get(f"{console.url}/staff/audit").text
    rows = re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>\s*<td>(.*?)</td>", audit, re.S)
    actions = [(user, action) for user, action, _ in rows]
    assert ("alice", "login") in actions
    assert ("alice", "export_conversations_csv") in actions
    assert ("alice", "export_nlu") in actions
    assert any(action == "view_transcript" and sid in target for _, action, target in rows)


def test_notes_are_redacted_and_dashboard_draws_svg_charts(console, seeded):
    http = console.login()
    sid = seeded["crisis"]
    token = csrf_of(http.get(f"{console.url}/staff/conversations/{sid}").text)
    http.post(
        f"{console.url}/staff/conversations/{sid}/notes",
        data={"note": "Mum rang back from 07700 900123, email jo@example.org", "csrf_token": token},
    )
    page = http.get(f"{console.url}/staff/conversations/{sid}").text
    assert "07700 900123" not in page and "jo@example.org" not in page
    assert "Mum rang back from [PHONE], email [EMAIL]" in page
    dash = http.get(console.url + "/staff/dashboard")
    assert dash.status_code == 200
    svgs = re.findall(r"<svg.*?</svg>", dash.text, re.S)
    assert len(svgs) == 4
    assert "Crisis escalations per day" in dash.text and "crisis_suicidal" in dash.text
    # today's bar in the conversations chart carries today's count
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert re.search(rf"<title>{today}: [1-9]\d*</title>", svgs[0])
