"""The staff review console at /staff: login, conversations, transcripts, review, relabel,
exports, dashboard and audit log.

Every route except the login page and the console's own static files needs a session
(unauthenticated requests are redirected to /staff/login); every POST needs the session's
CSRF token. Logins, transcript views and exports are written to the audit log. Responses
carry their own security headers (a CSP without inline scripts, no caching, no framing),
so the console is safe whatever the surrounding app adds.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import secrets
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import quote, urlencode

import jinja2
import yaml
from markupsafe import Markup
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.responses import FileResponse

from bot.paths import DATA, ROOT
from bot.redact import redact
from bot.transcripts import db, export, queries
from bot.transcripts.models import ConversationNote, ConversationTag, MessageRelabel
from bot.web.staff import auth, charts

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
PER_PAGE = 25

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(HERE / "templates")),
    autoescape=jinja2.select_autoescape(["html", "xml", "svg"], default=True),
    undefined=jinja2.StrictUndefined,
)
templates.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M:%S") if d else ""
templates.filters["pathseg"] = lambda v: quote(str(v), safe="")
templates.filters["pct"] = lambda v: "" if v is None else f"{v:.0%}"


class LoginRequired(Exception):
    pass


class CsrfFailed(Exception):
    pass


class StaffRoute(APIRoute):
    """Turns LoginRequired into a redirect and CsrfFailed into 403, and adds security headers."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired:
                target = "/staff/login"
                if request.method == "GET" and request.url.path not in ("/staff/login",):
                    target += "?" + urlencode({"next": request.url.path})
                response = RedirectResponse(target, status_code=303)
            except CsrfFailed:
                response = HTMLResponse("<h1>Forbidden</h1><p>Missing or wrong form token. "
                                        "Reload the page and try again.</p>", status_code=403)
            for name, value in SECURITY_HEADERS.items():
                response.headers[name] = value
            return response

        return wrapped


router = APIRouter(prefix="/staff", route_class=StaffRoute)


def startup() -> None:
    """Bring the transcripts tables up to date; the web app calls this when it starts.

    (Registered as a router startup handler too; an app with its own `lifespan` does not
    run those, which is why the app calls it. Every request also migrates lazily, once.)
    """
    db.migrate()


router.add_event_handler("startup", startup)


# --------------------------------------------------------------------------- helpers

def client_of(request: Request) -> str:
    return request.client.host if request.client else ""


def cookie_secure(request: Request) -> bool:
    import os

    return request.url.scheme == "https" or os.environ.get("BOT_COOKIE_SECURE", "") in ("1", "true", "yes")


def render(name: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("staff", None)
    context.setdefault("csrf", "")
    context["request_path"] = request.url.path
    context.setdefault("idle_minutes", round(auth.idle_timeout().total_seconds() / 60, 2))
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status)


def require_staff(request: Request, session) -> auth.StaffIdentity:
    identity = auth.resume_session(session, request.cookies.get(auth.COOKIE_NAME))
    if identity is None:
        raise LoginRequired()
    return identity


async def require_form(request: Request, identity: auth.StaffIdentity) -> Dict[str, str]:
    form = await request.form()
    if not auth.csrf_ok(identity.csrf_token, form.get("csrf_token")):
        raise CsrfFailed()
    return {k: str(v) for k, v in form.items() if isinstance(v, str)}


def domain_intents() -> List[str]:
    """Intents staff may relabel to: those of domain.yml (so the exported data validates)."""
    try:
        domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8")) or {}
        names = []
        for item in domain.get("intents", []) or []:
            names.append(next(iter(item)) if isinstance(item, dict) else str(item))
        return sorted(n for n in names if n and n != "nlu_fallback")
    except Exception:
        return []


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


# --------------------------------------------------------------------------- static files

@router.get("/static/{name}")
def static(name: str) -> Response:
    path = (STATIC_DIR / name).resolve()
    if path.parent != STATIC_DIR.resolve() or not path.is_file():
        return Response(status_code=404)
    media = {"css": "text/css", "js": "text/javascript", "svg": "image/svg+xml"}.get(path.suffix[1:], "application/octet-stream")
    return FileResponse(path, media_type=media)


# --------------------------------------------------------------------------- login

@router.get("/login")
def login_form(request: Request, next: str = "/staff/") -> Response:
    with db.session_scope() as session:
        if auth.resume_session(session, request.cookies.get(auth.COOKIE_NAME)):
            return RedirectResponse(_safe_next(next), status_code=303)
    nonce = secrets.token_urlsafe(24)
    response = render("login.html", request, csrf=nonce, next=_safe_next(next), error="")
    response.set_cookie(auth.LOGIN_CSRF_COOKIE, nonce, httponly=True, samesite="strict",
                        secure=cookie_secure(request), path="/staff")
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    nonce = request.cookies.get(auth.LOGIN_CSRF_COOKIE)
    if not auth.csrf_ok(nonce, form.get("csrf_token")):
        raise CsrfFailed()
    username = str(form.get("username") or "")[:80]
    password = str(form.get("password") or "")
    client = client_of(request)
    with db.session_scope() as session:
        user, reason = auth.authenticate(session, username, password, client)
        if user is None:
            queries.audit(session, username or "-", "login_failed", detail=reason, client=client)
        else:
            token = auth.start_session(session, user)
            queries.audit(session, user.username, "login", client=client)
    if user is None:
        message = ("Too many failed attempts. Wait 15 minutes and try again." if reason == "throttled"
                   else "Wrong username or password.")
        response = render("login.html", request, status=429 if reason == "throttled" else 401,
                          csrf=nonce, next=_safe_next(str(form.get("next") or "")), error=message)
        return response
    response = RedirectResponse(_safe_next(str(form.get("next") or "")), status_code=303)
    response.set_cookie(auth.COOKIE_NAME, token, httponly=True, samesite="strict",
                        secure=cookie_secure(request), path="/staff")
    response.delete_cookie(auth.LOGIN_CSRF_COOKIE, path="/staff")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    with db.session_scope() as session:
        identity = require_staff(request, session)
        await require_form(request, identity)
        auth.end_session(session, request.cookies.get(auth.COOKIE_NAME))
        queries.audit(session, identity.username, "logout", client=client_of(request))
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(auth.COOKIE_NAME, path="/staff")
    return response


# --------------------------------------------------------------------------- conversations

@router.get("")
@router.get("/")
def home(request: Request) -> Response:
    with db.session_scope() as session:
        require_staff(request, session)
    return RedirectResponse("/staff/conversations?view=needs_review", status_code=303)


@router.get("/conversations")
def conversation_list(request: Request, view: str = "all", crisis: str = "", fallback: str = "",
                      intent: str = "", date_from: str = "", date_to: str = "", reviewed: str = "",
                      tag: str = "", q: str = "", page: int = 1) -> Response:
    filters = queries.Filters(
        crisis=_bool_param(crisis), fallback=_bool_param(fallback), intent=intent.strip(),
        date_from=_date_param(date_from), date_to=_date_param(date_to), reviewed=_bool_param(reviewed),
        tag=_tag(tag) if tag else "", q=q.strip()[:200], view="needs_review" if view == "needs_review" else "all",
    )
    with db.session_scope() as session:
        identity = require_staff(request, session)
        items, total = queries.list_conversations(session, filters, page=page, per_page=PER_PAGE)
        intents, tags = queries.known_intents(session), queries.all_tags(session)
    params = {k: v for k, v in dict(view=filters.view, crisis=crisis, fallback=fallback, intent=intent,
                                       date_from=date_from, date_to=date_to, reviewed=reviewed, tag=tag,
                                       q=q).items() if v}
    pages = max(1, (total + PER_PAGE - 1) // PER_PAGE)
    return render("conversations.html", request, staff=identity.username, csrf=identity.csrf_token,
                  items=items, total=total, page=page, pages=pages, filters=filters,
                  raw=dict(crisis=crisis, fallback=fallback, intent=intent, date_from=date_from,
                           date_to=date_to, reviewed=reviewed, tag=tag, q=q, view=filters.view),
                  intents=intents, tags=tags,
                  prev_url=("?" + urlencode({**params, "page": page - 1})) if page > 1 else "",
                  next_url=("?" + urlencode({**params, "page": page + 1})) if page < pages else "")


@router.get("/conversations/{sender_id:path}")
def conversation_view(request: Request, sender_id: str) -> Response:
    with db.session_scope() as session:
        identity = require_staff(request, session)
        turns = queries.transcript(session, sender_id)
        if not turns:
            return render("not_found.html", request, status=404, staff=identity.username,
                          csrf=identity.csrf_token)
        conv = queries.conversations(session).get(sender_id)
        notes = [(n.author, n.created_at, n.text) for n in queries.notes(session, sender_id)]
        queries.audit(session, identity.username, "view_transcript", target=sender_id, client=client_of(request))
    return render("transcript.html", request, staff=identity.username, csrf=identity.csrf_token,
                  conv=conv, turns=turns, notes=notes, intents=domain_intents())


@router.post("/conversations/{sender_id:path}/review")
async def review(request: Request, sender_id: str) -> Response:
    with db.session_scope() as session:
        identity = require_staff(request, session)
        form = await require_form(request, identity)
        state = queries.review_state(session, sender_id)
        changes = []
        if "reviewed" in form:
            state.reviewed = form["reviewed"] == "yes"
            state.reviewed_by = identity.username if state.reviewed else None
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
        queries.audit(session, identity.username, "review", target=sender_id, detail=", ".join(changes),
                      client=client_of(request))
    return _back_to_conversation(sender_id)


def _back_to_conversation(sender_id: str, fragment: str = "") -> Response:
    """After a change, back to the transcript (303 so a reload does not post again)."""
    return RedirectResponse(f"/staff/conversations/{quote(sender_id, safe='')}{fragment}", status_code=303)


@router.post("/conversations/{sender_id:path}/tags")
async def add_tag(request: Request, sender_id: str) -> Response:
    with db.session_scope() as session:
        identity = require_staff(request, session)
        form = await require_form(request, identity)
        tag = _tag(form.get("tag", ""))
        if form.get("remove") == "yes":
            session.query(ConversationTag).filter_by(sender_id=sender_id, tag=tag).delete()
            queries.audit(session, identity.username, "untag", target=sender_id, detail=tag, client=client_of(request))
        elif tag and session.get(ConversationTag, (sender_id, tag)) is None:
            session.add(ConversationTag(sender_id=sender_id, tag=tag, added_by=identity.username,
                                        added_at=dt.datetime.utcnow()))
            queries.audit(session, identity.username, "tag", target=sender_id, detail=tag, client=client_of(request))
    return _back_to_conversation(sender_id)


@router.post("/conversations/{sender_id:path}/notes")
async def add_note(request: Request, sender_id: str) -> Response:
    with db.session_scope() as session:
        identity = require_staff(request, session)
        form = await require_form(request, identity)
        text = redact(form.get("note", "").strip())[:4000]
        if text:
            session.add(ConversationNote(sender_id=sender_id, author=identity.username, text=text,
                                         created_at=dt.datetime.utcnow()))
            queries.audit(session, identity.username, "note", target=sender_id, client=client_of(request))
    return _back_to_conversation(sender_id)


@router.post("/messages/{event_id}/relabel")
async def relabel(request: Request, event_id: int) -> Response:
    with db.session_scope() as session:
        identity = require_staff(request, session)
        form = await require_form(request, identity)
        event = queries.user_event(session, event_id)
        if event is None:
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        intent = form.get("intent", "").strip()
        sender_id = event["sender_id"]
        if intent not in domain_intents():
            return HTMLResponse("<h1>Unknown intent</h1>", status_code=400)
        payload = event["payload"]
        text = redact(payload.get("text") or "")
        entities = [e for e in ((payload.get("parse_data") or {}).get("entities") or []) if isinstance(e, dict)]
        row = session.query(MessageRelabel).filter_by(event_id=event_id).one_or_none()
        if row is None:
            row = MessageRelabel(event_id=event_id, sender_id=sender_id)
            session.add(row)
        row.text, row.entities = text, json.dumps(entities)
        row.predicted_intent, row.intent = event["intent"], intent
        row.relabelled_by, row.created_at = identity.username, dt.datetime.utcnow()
        queries.audit(session, identity.username, "relabel", target=sender_id,
                      detail=f"event {event_id}: {event['intent']} -> {intent}", client=client_of(request))
    return _back_to_conversation(sender_id, f"#m{event_id}")


# --------------------------------------------------------------------------- exports

def _download(body: str, filename: str, media_type: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.post("/export/nlu")
async def export_nlu(request: Request) -> Response:
    with db.session_scope() as session:
        identity = require_staff(request, session)
        await require_form(request, identity)
        body = export.export_nlu(session, existing=sorted(DATA.glob("nlu*.yml")))
        queries.audit(session, identity.username, "export_nlu", client=client_of(request))
    return _download(body, "relabelled_nlu.yml", "application/x-yaml")


@router.post("/export/conversations")
async def export_conversations(request: Request) -> Response:
    with db.session_scope() as session:
        identity = require_staff(request, session)
        form = await require_form(request, identity)
        fmt = "csv" if form.get("format") == "csv" else "json"
        ids = [form["conversation_id"]] if form.get("conversation_id") else None
        body = export.export_conversations(session, fmt, sender_ids=ids)
        queries.audit(session, identity.username, f"export_conversations_{fmt}",
                      target=ids[0] if ids else "all", client=client_of(request))
    media = "text/csv" if fmt == "csv" else "application/json"
    return _download(body, f"conversations.{fmt}", media)


# --------------------------------------------------------------------------- dashboard, audit

@router.get("/dashboard")
def dashboard(request: Request, days: int = 14) -> Response:
    days = max(1, min(days, 90))
    with db.session_scope() as session:
        identity = require_staff(request, session)
        data = queries.dashboard(session, days=days)
    svgs = [
        charts.bar_chart("Conversations per day", data["days"], data["conversations"]),
        charts.bar_chart("Crisis escalations per day", data["days"], data["crisis"], color="#c53030"),
        charts.rate_bar("Fallback / low-confidence rate", data["fallback_rate"]),
        charts.hbar_chart("Top intents", data["top_intents"]),
    ]
    return render("dashboard.html", request, staff=identity.username, csrf=identity.csrf_token,
                  data=data, svgs=[Markup(s) for s in svgs],
                  days=days)


@router.get("/audit")
def audit_log(request: Request, page: int = 1) -> Response:
    with db.session_scope() as session:
        identity = require_staff(request, session)
        rows, total = queries.audit_entries(session, page=page)
        entries = [(r.at, r.username, r.action, r.target, r.detail, r.client) for r in rows]
    pages = max(1, (total + 49) // 50)
    return render("audit.html", request, staff=identity.username, csrf=identity.csrf_token,
                  entries=entries, page=page, pages=pages)
