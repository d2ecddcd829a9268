"""The web process: the only public face of the product.

It serves the demo page (a plain treatment-information site with the chat widget
embedded), the widget's static files, `POST /api/chat` (forwarded to Rasa on
loopback), `GET /api/contacts`, the staff console, and `GET /healthz`.

Run it with `uvicorn bot.web.app:create_app --factory`; bot.stack runs the same factory
(`python -m bot.stack web`) with the access log off.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Optional

import httpx
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from bot import settings as settings_module
from bot.redact import install_log_redaction
from bot.settings import REGIONS, Settings
from bot.transcripts.purge import run_on_schedule as purge_on_schedule
from bot.web.chat import RASA_TIMEOUT, body_limit
from bot.web.chat import router as chat_router
from bot.web.crisis_guard import CrisisGuard
from bot.web.security import BodySizeLimitMiddleware, RateLimit, SecurityHeadersMiddleware
from bot.web.staff import routes as staff_routes

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"

log = logging.getLogger("bot.web")


def create_app(settings: Optional[Settings] = None) -> FastAPI:
    settings = settings or settings_module.load()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # uvicorn has configured its log handlers by now; nothing personal reaches them
        for name in (None, "uvicorn", "uvicorn.error", "uvicorn.access"):
            install_log_redaction(logging.getLogger(name) if name else None)
        # A failure must not take the visitors' chat down with it (the console also
        # migrates lazily on its first request).
        try:
            await run_in_threadpool(staff_routes.startup)
        except Exception:  # noqa: BLE001 - logged, the chat keeps working
            log.exception("staff console start-up failed; the chat still runs")
        # Loaded before the first visitor: a crisis answer must not depend on Rasa.
        try:
            app.state.crisis_guard = await run_in_threadpool(CrisisGuard.load)
        except Exception:  # noqa: BLE001 - logged; Rasa's own crisis rules still answer
            log.exception("crisis guard did not load; crisis replies now depend on Rasa alone")
        # One pooled client for all requests to Rasa; environment proxies are ignored
        # because Rasa is always on loopback.
        async with httpx.AsyncClient(timeout=RASA_TIMEOUT, trust_env=False) as client:
            app.state.http = client
            # Retention is kept by the running product, not only by a cron job; safe in
            # several web apps at once (see bot.transcripts.purge).
            purging = asyncio.create_task(
                purge_on_schedule(settings.db_url, settings.retention_days, settings.purge_interval, log)
            )
            try:
                yield
            finally:
                purging.cancel()

    app = FastAPI(
        title="Heroin detox assistant",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        exception_handlers=staff_routes.EXCEPTION_HANDLERS,
    )
    app.state.settings = settings
    app.state.crisis_guard = None
    app.state.pending_to_rasa = set()  # crisis messages answered here, still on their way to Rasa
    # In this process's memory (bot.web.security): each web worker counts on its own.
    app.state.chat_limit = RateLimit("chat", settings.chat_rate_limit)
    app.state.login_limit = RateLimit("login", settings.login_rate_limit)
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    app.state.templates = templates

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def demo_page(request: Request, region: Optional[str] = None):
        # `?region=us` shows the US preset on the demo page; anything else is the default.
        region = region if region in REGIONS else settings.default_region
        return templates.TemplateResponse(
            "index.html",
            {
                "request": request,
                "region": region,
                "other_region": "us" if region == "uk" else "uk",
                "max_message_chars": settings.max_message_chars,
            },
        )

    app.include_router(chat_router)
    app.include_router(staff_routes.router)
    STATIC_DIR.mkdir(exist_ok=True)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    # Inside the security headers (a 413 carries them too), outside everything that parses.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        path_limits={"/api/chat": max(settings.max_body_bytes, body_limit(settings))},
    )
    if settings.allowed_origins:
        # Only for embedding the widget on another site; the demo page is same-origin.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
            expose_headers=["Retry-After"],  # the widget waits as long as a 429 asks
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware, private_prefixes=[staff_routes.PREFIX])
    return app
