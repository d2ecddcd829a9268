"""Bad input at scale: every web endpoint fuzzed from the app's own OpenAPI schema with
Schemathesis, against the real web process with the real Rasa behind `/api/chat`.

For each endpoint at least FUZZ_EXAMPLES requests (1,000 by default), valid and invalid
by the schema (Schemathesis' positive and negative modes), each with a random set of stray
query parameters. Every response must be below 500, carry no Python traceback, and match
the schema wherever the schema documents its status (body and content type). The staff
console is fuzzed signed in, with the session's CSRF token in most forms (one in ten keeps
its fuzzed token, so the refusal is fuzzed too), and with a seeded conversation and event
(or one of its static files) in a quarter of the paths, so the handlers behind the checks
run, not only the refusals.

The fuzzed web app is a second process of the same code on its own SQLite file, beside the
session's stack: what the fuzzer writes as staff (tags, notes, reviews, a flood of failed
logins) stays out of the database the other tests read. Its `/api/chat` forwards to the
session's Rasa, so fuzzed messages are real conversations there.

The app serves no schema in production (`openapi_url=None`); the test builds it from the
app object, `.openapi()`, the way FastAPI would serve it.
"""

from __future__ import annotations

import collections
import os
import re
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Counter, Dict, Iterator, List, Tuple

import pytest
import requests
import schemathesis
import sqlalchemy as sa
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from bot.paths import ROOT
from bot.stack import Stack
from tests.conftest import ARTIFACTS, free_port

pytestmark = pytest.mark.stack

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))
USER = "fuzzer"
SEEDED = "0123456789abcdef0123456789abcdef"

# Every operation of the schema; test_every_endpoint_is_fuzzed fails when one is added
# that this list (and so the fuzzing) misses.
ENDPOINTS = [
    "GET /healthz",
    "GET /",
    "POST /api/chat",
    "GET /api/contacts",
    "GET /staff/static/{name}",
    "GET /staff/login",
    "POST /staff/login",
    "POST /staff/logout",
    "GET /staff",
    "GET /staff/",
    "GET /staff/conversations",
    "GET /staff/conversations/{sender_id}",
    "POST /staff/conversations/{sender_id}/review",
    "POST /staff/conversations/{sender_id}/tags",
    "POST /staff/conversations/{sender_id}/notes",
    "POST /staff/messages/{event_id}/relabel",
    "POST /staff/export/nlu",
    "POST /staff/export/conversations",
    "GET /staff/dashboard",
    "GET /staff/audit",
]
PUBLIC_STAFF = ("GET /staff/static/{name}", "GET /staff/login", "POST /staff/login")

# Query parameters nobody declared, any names and values: every endpoint gets them, so even
# one without parameters (/healthz) has input to fuzz.
STRAY_QUERY = {
    "name": "stray",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": True,
    "schema": {"type": "object", "additionalProperties": {"type": "string"}},
}
STATIC_FILES = sorted(p.name for p in (ROOT / "bot" / "web" / "staff" / "static").iterdir() if p.is_file())
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+")


def openapi_schema() -> Dict[str, Any]:
    from bot import settings as settings_module
    from bot.web.app import create_app

    app = create_app(settings_module.load())
    # /healthz and the demo page are kept out of the schema FastAPI would publish; they
    # are endpoints all the same, so this copy of the app lists them.
    for route in app.routes:
        if isinstance(route, APIRoute):
            route.include_in_schema = True
    raw = app.openapi()
    for path_item in raw["paths"].values():
        for operation in path_item.values():
            operation.setdefault("parameters", []).append(STRAY_QUERY)
    return raw


@dataclass
class Target:
    url: str
    db_url: str
    session_token: str
    csrf: str
    login_nonce: str
    event_id: int
    tally: Dict[str, Tuple[int, Counter[str], float]] = field(default_factory=dict)


def mint_session(db_url: str) -> Tuple[str, str]:
    """A fresh staff session (cookie token, CSRF token), written straight to the database:
    each fuzzed logout ends one, and 1,000 password logins would take minutes of argon2."""
    from bot.transcripts import db
    from bot.transcripts.models import StaffSession, StaffUser
    from bot.web.staff import auth

    with db.session_scope(db_url) as session:
        user = session.query(StaffUser).filter_by(username=USER).one()
        token = auth.start_session(session, user)
        session.flush()
        csrf = session.get(StaffSession, auth.token_hash(token)).csrf_token
    return token, csrf


@pytest.fixture(scope="module")
def target(stack, test_settings) -> Iterator[Target]:
    from tests.staff.conftest import PASSWORD, csrf_of, run_cli, write_conversation

    settings_ = test_settings.replace(
        web_port=free_port(), db_url=f"sqlite:///{ARTIFACTS / f'fuzz-{uuid.uuid4().hex[:8]}.db'}"
    )
    web = Stack(settings_, log_dir=ARTIFACTS / "logs-fuzz")
    try:
        web.start_web()
        env = dict(os.environ, BOT_DB_URL=settings_.db_url, PYTHONPATH=str(ROOT))
        assert run_cli(env, "staff", "add", USER, stdin=PASSWORD + "\n").returncode == 0
        write_conversation(
            settings_.db_url,
            SEEDED,
            [("how long does withdrawal last", "withdrawal_duration", 0.9, "About a week.", {})],
        )
        engine = sa.create_engine(settings_.db_url)
        with engine.connect() as connection:
            event_id = connection.execute(
                sa.text("SELECT id FROM events WHERE sender_id = :s AND type_name = 'user'"), {"s": SEEDED}
            ).scalar_one()
        engine.dispose()
        # one real password login, before the fuzzed logins get this client throttled
        http = requests.Session()
        nonce = csrf_of(http.get(f"{settings_.web_url}/staff/login").text)
        login_nonce = http.cookies.get("staff_login_csrf", path="/staff")
        assert login_nonce == nonce
        signed_in = http.post(
            f"{settings_.web_url}/staff/login",
            data={"username": USER, "password": PASSWORD, "csrf_token": nonce},
            allow_redirects=False,
        )
        assert signed_in.status_code == 303, signed_in.text
        token = signed_in.cookies["staff_session"]
        csrf = csrf_of(http.get(f"{settings_.web_url}/staff/dashboard").text)
        found = Target(settings_.web_url, settings_.db_url, token, csrf, nonce, event_id)
        yield found
        print("\nFuzzing, per endpoint: requests, seconds, statuses")
        for label, (count, statuses, seconds) in found.tally.items():
            print(f"  {label:46} {count:6} {seconds:6.0f} s  {dict(sorted(statuses.items()))}")
    finally:
        web.stop()


@pytest.fixture(scope="module")
def schema():
    return schemathesis.openapi.from_dict(openapi_schema())


def test_every_endpoint_is_fuzzed(schema):
    labels = [result.ok().label for result in schema.get_all_operations()]
    assert sorted(labels) == sorted(ENDPOINTS)


def prepare(case, target: Target, n: int) -> Dict[str, str]:
    """Signs the case in as staff where the console needs it; returns its cookies."""
    label = case.operation.label
    cookies: Dict[str, str] = {}
    if label == "GET /staff/static/{name}" and n % 4 == 0:
        case.path_parameters["name"] = STATIC_FILES[n // 4 % len(STATIC_FILES)]
    if label.startswith(("GET /staff", "POST /staff")) and label not in PUBLIC_STAFF:
        token, csrf = (
            mint_session(target.db_url) if label == "POST /staff/logout" else (target.session_token, target.csrf)
        )
        cookies["staff_session"] = token
    elif label == "POST /staff/login":
        csrf = target.login_nonce
        cookies["staff_login_csrf"] = target.login_nonce
    else:
        return cookies
    if isinstance(case.body, dict) and n % 10:
        case.body["csrf_token"] = csrf
    if n % 4 == 0:
        if "sender_id" in (case.path_parameters or {}):
            case.path_parameters["sender_id"] = SEEDED
        if "event_id" in (case.path_parameters or {}):
            case.path_parameters["event_id"] = target.event_id
    return cookies


def fuzz(operation, examples: int, send: Callable[[Any], None], counted: Callable[[], int]) -> None:
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        send(case)

    # Hypothesis stops early when it believes it has seen every distinct input
    for _ in range(5):
        run()
        if counted() >= examples:
            return


class Sender:
    """Sends each generated case from a few threads while Hypothesis generates the next:
    generating a case costs about as much as answering it, and the two overlap this way."""

    def __init__(self, target: Target, workers: int = 4) -> None:
        self.target = target
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="fuzz")
        self.in_flight = threading.BoundedSemaphore(workers * 2)
        self.local = threading.local()
        self.lock = threading.Lock()
        self.futures: List[Future] = []
        self.generated = 0
        self.statuses: Counter[str] = collections.Counter()
        self.problems: List[str] = []

    def __call__(self, case) -> None:
        cookies = prepare(case, self.target, self.generated)
        self.generated += 1
        self.in_flight.acquire()
        future = self.pool.submit(self.send, case, cookies)
        future.add_done_callback(lambda _: self.in_flight.release())
        self.futures.append(future)

    def send(self, case, cookies: Dict[str, str]) -> None:
        http = getattr(self.local, "http", None)
        if http is None:
            http = self.local.http = requests.Session()
        http.cookies.clear()  # only the cookies `prepare` chose, never ones a response set
        where = f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r}"[:400]
        try:
            # redirects are answers of their own (login, after a change): never followed
            response = case.call(base_url=self.target.url, session=http, cookies=cookies, timeout=60, max_redirects=0)
        except requests.RequestException as error:
            self.record("no answer", f"no answer ({type(error).__name__}) to {where}")
            return
        text = response.content.decode("utf-8", "replace")
        problems = []
        if response.status_code >= 500:
            problems.append(f"{response.status_code} for {where}: {text[:300]}")
        if TRACEBACK.search(text):
            problems.append(f"traceback in the response to {where}")
        try:
            case.validate_response(response, checks=[response_schema_conformance, content_type_conformance])
        except (AssertionError, FailureGroup) as failure:  # each is reported with its case
            problems.append(f"{type(failure).__name__} for {where}: {str(failure)[:300]}")
        self.record(str(response.status_code), *problems)

    def record(self, status: str, *problems: str) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.problems.extend(problems)

    def finish(self) -> int:
        for future in self.futures:
            future.result()
        self.pool.shutdown()
        return sum(self.statuses.values())


@pytest.mark.parametrize("label", ENDPOINTS)
def test_fuzzed_requests_get_no_server_error_no_traceback_and_match_the_schema(label, schema, target):
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    sender = Sender(target)
    started = time.monotonic()
    fuzz(operation, EXAMPLES, sender, lambda: sender.generated)
    sent = sender.finish()
    seconds = time.monotonic() - started
    statuses = dict(sorted(sender.statuses.items()))
    target.tally[label] = (sent, sender.statuses, seconds)
    print(f"\n{label}: {sent} requests in {seconds:.0f} s, statuses {statuses}")

    assert sent >= EXAMPLES
    problems = sender.problems
    assert not problems, f"{len(problems)} problems, the first ones:\n" + "\n".join(problems[:10])
