"""The staff review console at /staff: login, conversations, transcripts, review, relabel,
exports, dashboard and audit log.

Only the login page and the console's own static files are public. Every other route sits
on `console`, whose dependencies admit a live staff session only (anyone else is sent to
the login page) and check the session's CSRF token on every POST, so a new route cannot
forget either. Logins, transcript views, changes and exports are written to the audit log.
Security headers, one Content-Security-Policy and no caching come from the app's
middleware (bot.web.security).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Coroutine, Dict, Optional
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.responses import FileResponse

from bot.evaluation.sets import training_files
from bot.redact import redact
from bot.transcripts import db, export, queries
from bot.transcripts.models import ConversationNote, ConversationTag, MessageRelabel
from bot.web.security import RateLimit, client_address, limit_key
from bot.web.staff import auth, charts
from bot.web.staff.auth import StaffIdentity
from bot.web.staff.intents import project_relabel_intents

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
PER_PAGE = 25

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(HERE / "templates")),
    autoescape=jinja2.select_autoescape(["html", "xml", "svg"], default=True),
    undefined=jinja2.StrictUndefined,
)
templates.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M:%S") if d else ""
templates.filters["pathseg"] = lambda v: quote(str(v), safe="")
templates.filters["pct"] = lambda v: "" if v is None else f"{v:.0%}"


def startup() -> None:
    """Bring the transcripts tables up to date before the first request (the web app's
    lifespan calls this; every database session also migrates lazily, once)."""
    db.migrate()


# --------------------------------------------------------------------------- dependencies


class LoginRequired(Exception):
    """No live staff session behind the request."""


class CsrfFailed(Exception):
    """A form arrived without the token of the session (or login page) that served it."""


async def _to_login(request: Request, exc: LoginRequired) -> Response:
    target = "/staff/login"
    if request.method == "GET":
        target += "?" + urlencode({"next": request.url.path})
    return RedirectResponse(target, status_code=303)


async def _forbidden(request: Request, exc: CsrfFailed) -> Response:
    return HTMLResponse(
        "<h1>Forbidden</h1><p>Missing or wrong form token. Reload the page and try again.</p>", status_code=403
    )


# The app registers these (bot.web.app); they turn the dependencies' refusals into pages.
EXCEPTION_HANDLERS: Dict[Any, Callable[[Request, Any], Coroutine[Any, Any, Response]]] = {
    LoginRequired: _to_login,
    CsrfFailed: _forbidden,
}


def signed_in(request: Request) -> Optional[StaffIdentity]:
    """The staff member behind the session cookie while the session is live, else None."""
    with db.session_scope() as session:
        return auth.resume_session(session, request.cookies.get(auth.COOKIE_NAME), request.app.state.settings)


MaybeStaff = Annotated[Optional[StaffIdentity], Depends(signed_in)]


def current_staff(staff: MaybeStaff) -> StaffIdentity:
    if staff is None:
        raise LoginRequired
    return staff


Staff = Annotated[StaffIdentity, Depends(current_staff)]


async def form_fields(request: Request) -> Dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


Form = Annotated[Dict[str, str], Depends(form_fields)]


async def csrf_protected(request: Request, staff: Staff) -> None:
    if request.method == "POST":
        form = await form_fields(request)
        if not auth.csrf_ok(staff.csrf_token, form.get("csrf_token")):
            raise CsrfFailed


@dataclass
class AuditTrail:
    """Writes audit entries as the signed-in staff member, from the client they use."""

    username: str
    client: str

    def __call__(self, session: Session, action: str, target: str = "", detail: str = "") -> None:
        queries.audit(session, self.username, action, target=target, detail=detail, client=self.client)


def client_of(request: Request) -> str:
    return client_address(request, request.app.state.settings.trust_proxy)


def audit_trail(request: Request, staff: Staff) -> AuditTrail:
    return AuditTrail(staff.username, client_of(request))


Audit = Annotated[AuditTrail, Depends(audit_trail)]
# Numbers a browser could send, bounded so nothing larger reaches the database (SQLite
# integers stop at 2**63 - 1; a page past the last simply shows nothing).
Page = Annotated[int, Query(ge=1, le=1_000_000)]
EventId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]


def form_body(*required: str, **fields: Dict[str, Any]) -> Dict[str, Any]:
    """openapi_extra for a form route: the fields are read raw (`form_fields`), so FastAPI
    cannot describe them; every console form carries the session's CSRF token."""
    properties = {"csrf_token": {"type": "string"}, **fields}
    schema = {"type": "object", "required": ["csrf_token", *required], "properties": properties}
    return {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}}


def download(*media_types: str) -> Dict[str, Any]:
    return {"responses": {"200": {"description": "A file", "content": {m: {} for m in media_types}}}}


TEXT: Dict[str, Any] = {"type": "string"}
YES_NO: Dict[str, Any] = {"type": "string", "enum": ["yes", "no"]}


PREFIX = "/staff"
public = APIRouter(prefix=PREFIX)
console = APIRouter(prefix=PREFIX, dependencies=[Depends(current_staff), Depends(csrf_protected)])


# --------------------------------------------------------------------------- helpers


def cookie_secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.app.state.settings.cookie_secure


def set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(name, value, httponly=True, samesite="strict", secure=cookie_secure(request), path=PREFIX)


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, httponly=True, samesite="strict", secure=cookie_secure(request), path=PREFIX)


def render(
    name: str, request: Request, staff: Optional[StaffIdentity] = None, status: int = 200, **context: Any
) -> HTMLResponse:
    context.setdefault("csrf", staff.csrf_token if staff else "")
    context["staff"] = staff.username if staff else None
    context.setdefault("idle_minutes", round(auth.idle_timeout(request.app.state.settings).total_seconds() / 60, 2))
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status)


def _bool_param(value: Optional[str]) -> Optional[bool]:
    return {"yes": True, "no": False}.get((value or "").lower())


def _date_param(value: Optional[str]) -> Optional[dt.date]:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _safe_next(value: Optional[str]) -> str:
    if value and value.startswith("/staff") and not value.startswith("//") and "\\" not in value:
        return value
    return "/staff/"


def _tag(value: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", (value or "").strip().lower())[:64].strip("-")


def _back_to_conversation(sender_id: str, fragment: str = "") -> Response:
    """After a change, back to the transcript (303 so a reload does not post again)."""
    return RedirectResponse(f"/staff/conversations/{quote(sender_id, safe='')}{fragment}", status_code=303)


def _download(body: str, filename: str, media_type: str) -> Response:
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --------------------------------------------------------------------------- public: static files, login


@public.get("/static/{name}", response_class=Response)
def static(name: str) -> Response:
    path = (STATIC_DIR / name).resolve()
    if path.parent != STATIC_DIR.resolve() or not path.is_file():
        return Response(status_code=404)
    media = {"css": "text/css", "js": "text/javascript", "svg": "image/svg+xml"}
    return FileResponse(path, media_type=media.get(path.suffix[1:], "application/octet-stream"))


@public.get("/login", response_class=HTMLResponse)
def login_form(request: Request, staff: MaybeStaff, next: str = "/staff/") -> Response:
    if staff is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    # Before there is a session, the login form's CSRF token is a nonce in its own cookie.
    nonce = secrets.token_urlsafe(24)
    response = render("login.html", request, csrf=nonce, next=_safe_next(next), error="")
    set_cookie(response, request, auth.LOGIN_CSRF_COOKIE, nonce)
    return response


WRONG_CREDENTIALS = "Wrong username, password or code."


def _login_refused(request: Request, nonce: Optional[str], next_page: str, retry_after: int) -> Response:
    """The same page and words whatever the account, existing or not, and whatever the
    reason (the client's rate limit, the account's lock, the client's failures)."""
    response = render(
        "login.html",
        request,
        status=429,
        csrf=nonce or "",
        next=next_page,
        error=f"Too many failed attempts. Wait {retry_after} second{'' if retry_after == 1 else 's'} and try again.",
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


@public.post(
    "/login",
    response_class=HTMLResponse,
    openapi_extra=form_body("username", "password", username=TEXT, password=TEXT, code=TEXT, next=TEXT),
)
def login(request: Request, form: Form) -> Response:
    nonce = request.cookies.get(auth.LOGIN_CSRF_COOKIE)
    next_page = _safe_next(form.get("next"))
    limit: RateLimit = request.app.state.login_limit
    retry_after = limit.hit(limit_key(request, request.app.state.settings.trust_proxy))
    if retry_after is not None:
        return _login_refused(request, nonce, next_page, retry_after)
    if not auth.csrf_ok(nonce, form.get("csrf_token")):
        raise CsrfFailed
    username = form.get("username", "")[:80]
    client = client_of(request)
    with db.session_scope() as session:
        user, refused = auth.authenticate(session, username, form.get("password", ""), client, form.get("code", ""))
        if refused is not None:
            detail = refused.detail or refused.reason
            queries.audit(session, username or "-", "login_failed", detail=detail, client=client)
            if refused.locked_for:
                queries.audit(session, username or "-", "login_locked", detail=f"{refused.locked_for} s", client=client)
        elif user is not None:
            # Rotation: whatever session this browser held before is over, and the new one
            # gets a token nobody could have seen or planted before this moment.
            auth.end_session(session, request.cookies.get(auth.COOKIE_NAME))
            token = auth.start_session(session, user)
            queries.audit(
                session, user.username, "login", detail="with totp" if user.totp_secret else "", client=client
            )
    if user is None:
        assert refused is not None
        if refused.reason != "invalid":
            return _login_refused(request, nonce, next_page, refused.retry_after)
        # One answer whichever factor was wrong: it must not confirm a guessed password.
        return render("login.html", request, status=401, csrf=nonce, next=next_page, error=WRONG_CREDENTIALS)
    response = RedirectResponse(next_page, status_code=303)
    set_cookie(response, request, auth.COOKIE_NAME, token)
    clear_cookie(response, request, auth.LOGIN_CSRF_COOKIE)
    return response


# --------------------------------------------------------------------------- console: session


@console.post("/logout", openapi_extra=form_body())
def logout(request: Request, audit: Audit) -> Response:
    with db.session_scope() as session:
        auth.end_session(session, request.cookies.get(auth.COOKIE_NAME))
        audit(session, "logout")
    response = RedirectResponse("/staff/login", status_code=303)
    clear_cookie(response, request, auth.COOKIE_NAME)
    return response


# --------------------------------------------------------------------------- console: conversations


@console.get("")
@console.get("/")
def home() -> Response:
    return RedirectResponse("/staff/conversations?view=needs_review", status_code=303)


@console.get("/conversations", response_class=HTMLResponse)
def conversation_list(
    request: Request,
    staff: Staff,
    view: str = "all",
    crisis: str = "",
    fallback: str = "",
    intent: str = "",
    date_from: str = "",
    date_to: str = "",
    reviewed: str = "",
    tag: str = "",
    q: str = "",
    page: Page = 1,
) -> Response:
    filters = queries.Filters(
        crisis=_bool_param(crisis),
        fallback=_bool_param(fallback),
        intent=intent.strip(),
        date_from=_date_param(date_from),
        date_to=_date_param(date_to),
        reviewed=_bool_param(reviewed),
        tag=_tag(tag) if tag else "",
        q=q.strip()[:200],
        view="needs_review" if view == "needs_review" else "all",
    )
    with db.session_scope() as session:
        items, total = queries.list_conversations(session, filters, page=page, per_page=PER_PAGE)
        intents, tags = queries.known_intents(session), queries.all_tags(session)
    raw = dict(
        crisis=crisis,
        fallback=fallback,
        intent=intent,
        date_from=date_from,
        date_to=date_to,
        reviewed=reviewed,
        tag=tag,
        q=q,
        view=filters.view,
    )
    params = {k: v for k, v in raw.items() if v}
    pages = max(1, (total + PER_PAGE - 1) // PER_PAGE)
    return render(
        "conversations.html",
        request,
        staff,
        items=items,
        total=total,
        page=page,
        pages=pages,
        filters=filters,
        raw=raw,
        intents=intents,
        tags=tags,
        prev_url=("?" + urlencode({**params, "page": page - 1})) if page > 1 else "",
        next_url=("?" + urlencode({**params, "page": page + 1})) if page < pages else "",
    )


@console.get("/conversations/{sender_id:path}", response_class=HTMLResponse)
def conversation_view(request: Request, sender_id: str, staff: Staff, audit: Audit) -> Response:
    with db.session_scope() as session:
        turns = queries.transcript(session, sender_id)
        if not turns:
            return render("not_found.html", request, staff, status=404)
        conv = queries.conversations(session, [sender_id]).get(sender_id)
        notes = [(n.author, n.created_at, n.text) for n in queries.notes(session, sender_id)]
        audit(session, "view_transcript", target=sender_id)
    return render(
        "transcript.html", request, staff, conv=conv, turns=turns, notes=notes, intents=project_relabel_intents()
    )


@console.post(
    "/conversations/{sender_id:path}/review",
    openapi_extra=form_body(reviewed=YES_NO, crisis_flag=YES_NO, priority={"type": "string", "pattern": "^[0-3]$"}),
)
def review(sender_id: str, form: Form, staff: Staff, audit: Audit) -> Response:
    with db.session_scope() as session:
        state = queries.review_state(session, sender_id)
        changes = []
        if "reviewed" in form:
            state.reviewed = form["reviewed"] == "yes"
            state.reviewed_by = staff.username if state.reviewed else None
            state.reviewed_at = dt.datetime.utcnow() if state.reviewed else None
            changes.append(f"reviewed={state.reviewed}")
        if "crisis_flag" in form:
            state.crisis_flag = form["crisis_flag"] == "yes"
            changes.append(f"crisis_flag={state.crisis_flag}")
        if "priority" in form:
            try:
                state.priority = max(0, min(3, int(form["priority"])))
            except ValueError:
                pass
            changes.append(f"priority={state.priority}")
        state.updated_at = dt.datetime.utcnow()
        audit(session, "review", target=sender_id, detail=", ".join(changes))
    return _back_to_conversation(sender_id)


@console.post("/conversations/{sender_id:path}/tags", openapi_extra=form_body("tag", tag=TEXT, remove=YES_NO))
def add_tag(sender_id: str, form: Form, staff: Staff, audit: Audit) -> Response:
    tag = _tag(form.get("tag", ""))
    with db.session_scope() as session:
        if form.get("remove") == "yes":
            session.query(ConversationTag).filter_by(sender_id=sender_id, tag=tag).delete()
            audit(session, "untag", target=sender_id, detail=tag)
        elif tag and queries.insert_if_missing(
            session,
            ConversationTag.__table__,
            dict(sender_id=sender_id, tag=tag, added_by=staff.username, added_at=dt.datetime.utcnow()),
        ):
            audit(session, "tag", target=sender_id, detail=tag)
    return _back_to_conversation(sender_id)


@console.post("/conversations/{sender_id:path}/notes", openapi_extra=form_body("note", note=TEXT))
def add_note(sender_id: str, form: Form, staff: Staff, audit: Audit) -> Response:
    text = redact(form.get("note", "").strip())[:4000]
    if text:
        with db.session_scope() as session:
            session.add(
                ConversationNote(sender_id=sender_id, author=staff.username, text=text, created_at=dt.datetime.utcnow())
            )
            audit(session, "note", target=sender_id)
    return _back_to_conversation(sender_id)


@console.post(
    "/messages/{event_id}/relabel", response_class=HTMLResponse, openapi_extra=form_body("intent", intent=TEXT)
)
def relabel(event_id: EventId, form: Form, staff: Staff, audit: Audit) -> Response:
    intent = form.get("intent", "").strip()
    with db.session_scope() as session:
        event = queries.user_event(session, event_id)
        if event is None:
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        if intent not in project_relabel_intents():
            return HTMLResponse("<h1>Unknown intent</h1>", status_code=400)
        sender_id, payload = event["sender_id"], event["payload"]
        entities = [e for e in ((payload.get("parse_data") or {}).get("entities") or []) if isinstance(e, dict)]
        row = session.query(MessageRelabel).filter_by(event_id=event_id).one_or_none()
        if row is None:
            row = MessageRelabel(event_id=event_id, sender_id=sender_id)
            session.add(row)
        row.text, row.entities = redact(payload.get("text") or ""), json.dumps(entities)
        row.predicted_intent, row.intent = event["intent"], intent
        row.relabelled_by, row.created_at = staff.username, dt.datetime.utcnow()
        audit(session, "relabel", target=sender_id, detail=f"event {event_id}: {event['intent']} -> {intent}")
    return _back_to_conversation(sender_id, f"#m{event_id}")


# --------------------------------------------------------------------------- console: exports


@console.post("/export/nlu", response_class=Response, openapi_extra={**form_body(), **download("application/x-yaml")})
def export_nlu(audit: Audit) -> Response:
    with db.session_scope() as session:
        # the same examples left out as by `bot export-nlu`: those already trained on
        body = export.export_nlu(session, existing=training_files())
        audit(session, "export_nlu")
    return _download(body, "relabelled_nlu.yml", "application/x-yaml")


@console.post(
    "/export/conversations",
    response_class=Response,
    openapi_extra={
        **form_body(format={"type": "string", "enum": ["csv", "json"]}, conversation_id=TEXT),
        **download("text/csv", "application/json"),
    },
)
def export_conversations(form: Form, audit: Audit) -> Response:
    fmt = "csv" if form.get("format") == "csv" else "json"
    ids = [form["conversation_id"]] if form.get("conversation_id") else None
    with db.session_scope() as session:
        body = export.export_conversations(session, fmt, sender_ids=ids)
        audit(session, f"export_conversations_{fmt}", target=ids[0] if ids else "all")
    return _download(body, f"conversations.{fmt}", "text/csv" if fmt == "csv" else "application/json")


# --------------------------------------------------------------------------- console: dashboard, audit


@console.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, staff: Staff, days: int = 14) -> Response:
    days = max(1, min(days, 90))
    with db.session_scope() as session:
        data = queries.dashboard(session, days=days)
    svgs = [
        charts.bar_chart("Conversations per day", data["days"], data["conversations"]),
        charts.bar_chart("Crisis escalations per day", data["days"], data["crisis"], color="#c53030"),
        charts.rate_bar("Fallback / low-confidence rate", data["fallback_rate"]),
        charts.hbar_chart("Top intents", data["top_intents"]),
    ]
    return render("dashboard.html", request, staff, data=data, svgs=[Markup(s) for s in svgs], days=days)


@console.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, staff: Staff, page: Page = 1) -> Response:
    with db.session_scope() as session:
        rows, total = queries.audit_entries(session, page=page)
        entries = [(r.at, r.username, r.action, r.target, r.detail, r.client) for r in rows]
    pages = max(1, (total + 49) // 50)
    return render("audit.html", request, staff, entries=entries, page=page, pages=pages)


# Built last: include_router copies the routes that exist at that moment.
router = APIRouter()
router.include_router(public)
router.include_router(console)
