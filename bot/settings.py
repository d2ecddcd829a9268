"""All run-time configuration, read from environment variables in one place.

Every process (Rasa server, action server, web app, command-line tools) gets its
settings from here; `bot.stack` passes them on to the processes it starts.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import Tuple

from bot.paths import VAR_DIR

REGIONS = ("uk", "us")


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    rasa_port: int = 5005
    actions_port: int = 5055
    web_port: int = 8000
    # SQLAlchemy URL of the tracker store and our own tables; SQLite by default.
    db_url: str = f"sqlite:///{VAR_DIR / 'bot.db'}"
    # Redis URL for Rasa's lock store in scale-out mode; empty means in-memory locks.
    redis_url: str = ""
    # Token for Rasa's HTTP API; a fresh random one per run unless configured.
    rasa_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    default_region: str = "uk"
    max_message_chars: int = 1000
    allowed_origins: Tuple[str, ...] = ()
    retention_days: int = 30

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def rasa_webhook_url(self) -> str:
        return f"{self.rasa_url}/webhooks/rest/webhook"

    @property
    def actions_url(self) -> str:
        return f"http://{self.host}:{self.actions_port}/webhook"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"


def load() -> Settings:
    """Settings from the environment (see README, "Configuration")."""
    region = _env("BOT_REGION", "uk").lower()
    if region not in REGIONS:
        raise ValueError(f"BOT_REGION must be one of {REGIONS}, not {region!r}")
    origins = tuple(o.strip() for o in _env("BOT_ALLOWED_ORIGINS", "").split(",") if o.strip())
    kwargs = dict(
        host=_env("BOT_HOST", "127.0.0.1"),
        rasa_port=int(_env("RASA_PORT", "5005")),
        actions_port=int(_env("ACTIONS_PORT", "5055")),
        web_port=int(_env("WEB_PORT", "8000")),
        db_url=_env("BOT_DB_URL", Settings.db_url),
        redis_url=_env("BOT_REDIS_URL", ""),
        default_region=region,
        max_message_chars=int(_env("BOT_MAX_MESSAGE_CHARS", "1000")),
        allowed_origins=origins,
        retention_days=int(_env("BOT_RETENTION_DAYS", "30")),
    )
    token = os.environ.get("RASA_TOKEN", "").strip()
    if token:
        kwargs["rasa_token"] = token
    return Settings(**kwargs)
