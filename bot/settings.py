"""Every environment variable the product reads, with its default: one field each.

Every process (Rasa server, action server, web app, command-line tools) gets its
configuration from `load()`; `bot.stack` hands the same values on to the processes it
starts (`Settings.environment()`). No other module reads `os.environ`.

The README's "Configuration" table is this class printed as Markdown
(`python -m bot.settings`); tests/web/test_settings.py fails when the two differ.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, Dict, List, Tuple

from pydantic import BaseSettings, Field, ValidationError, validator
from pydantic.fields import ModelField

from bot.paths import ROOT, VAR_DIR

REGIONS = ("uk", "us")


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


class Settings(BaseSettings):
    host: str = Field(
        "127.0.0.1",
        env="BOT_HOST",
        description="address every process listens on; keep it loopback, with a TLS proxy in front of the web app",
    )
    rasa_port: int = Field(
        5005, env="RASA_PORT", ge=1, le=65535, description="port of the Rasa server (REST channel and HTTP API)"
    )
    actions_port: int = Field(5055, env="ACTIONS_PORT", ge=1, le=65535, description="port of the action server")
    web_port: int = Field(
        8000,
        env="WEB_PORT",
        ge=1,
        le=65535,
        description="port of the web app: demo page, widget, `/api/chat`, staff console",
    )
    db_url: str = Field(
        f"sqlite:///{VAR_DIR / 'bot.db'}",
        env="BOT_DB_URL",
        description="SQLAlchemy URL of the tracker store and our own tables; `postgresql://…` to scale out",
    )
    redis_url: str = Field(
        "",
        env="BOT_REDIS_URL",
        description="Redis URL for Rasa's lock store when several Rasa servers share conversations",
    )
    lock_lifetime: int = Field(
        15,
        env="TICKET_LOCK_LIFETIME",
        ge=5,
        description="seconds a Rasa server may hold a conversation's lock (Rasa's own variable; its default is 60): "
        "when a server dies holding one, another takes the conversation over after this long",
    )
    rasa_token: str = Field(
        default_factory=lambda: secrets.token_urlsafe(24),
        env="RASA_TOKEN",
        repr=False,
        shown_default="random per run",
        description="token for Rasa's HTTP API (never exposed without one)",
    )
    default_region: str = Field(
        "uk",
        env="BOT_REGION",
        description="default contact preset (`uk`, `us`); the widget's page config and the visitor override it",
    )
    rasa_urls: Tuple[str, ...] = Field(
        (),
        env="BOT_RASA_URLS",
        description="comma-separated base URLs of the Rasa servers the web app talks to, tried in turn when one "
        "fails (scale-out); empty means the one on `BOT_HOST`:`RASA_PORT`",
    )
    max_message_chars: int = Field(
        1000, env="BOT_MAX_MESSAGE_CHARS", ge=1, description="longest visitor message accepted"
    )
    allowed_origins: Tuple[str, ...] = Field(
        (),
        env="BOT_ALLOWED_ORIGINS",
        description="comma-separated extra origins allowed by CORS (the demo page is same-origin)",
    )
    crisis_wait_seconds: float = Field(
        0.0,
        env="BOT_CRISIS_WAIT_SECONDS",
        ge=0,
        description="seconds the web app waits for Rasa's own answer to a crisis-rule match before sending the "
        "same crisis reply itself; 0 answers at once, whatever queue Rasa has",
    )
    retention_days: int = Field(
        30, env="BOT_RETENTION_DAYS", ge=1, description="transcript retention used by `bot purge`"
    )
    purge_interval: float = Field(
        3600,
        env="BOT_PURGE_INTERVAL",
        ge=0,
        description="seconds between the web app's own purges of transcripts older than `BOT_RETENTION_DAYS` "
        "(the first one interval after start-up); 0 turns the schedule off",
    )
    staff_idle_minutes: float = Field(
        30, env="BOT_STAFF_IDLE_MINUTES", gt=0, description="a staff session ends after this many idle minutes"
    )
    staff_session_hours: float = Field(
        12,
        env="BOT_STAFF_SESSION_HOURS",
        gt=0,
        description="a staff session ends this many hours after login, however busy; then log in again",
    )
    secret_key: str = Field(
        "",
        env="BOT_SECRET_KEY",
        repr=False,
        description="signs staff sessions; empty: a random key generated once into `BOT_SECRET_FILE`",
    )
    secret_file: Path = Field(
        VAR_DIR / "secret_key", env="BOT_SECRET_FILE", description="where the generated session key is kept (mode 0600)"
    )
    chat_rate_limit: str = Field(
        "30/minute",
        env="BOT_CHAT_RATE_LIMIT",
        description="most `/api/chat` requests one client may send (`N/second`, `N/minute`, `N/hour`; "
        "`30/minute;500/hour` for several); over it: 429 with the contacts",
    )
    login_rate_limit: str = Field(
        "10/minute",
        env="BOT_LOGIN_RATE_LIMIT",
        description="most staff login attempts one client may make, whatever the account",
    )
    trust_proxy: bool = Field(
        False,
        env="BOT_TRUST_PROXY",
        description="count limits per the last `X-Forwarded-For` address (set it behind a reverse proxy); "
        "requests from loopback without one are not limited",
    )
    max_body_bytes: int = Field(
        16384,
        env="BOT_MAX_BODY_BYTES",
        ge=1024,
        description="largest request body of any POST (staff forms included); larger ones get 413 unread",
    )
    cookie_secure: bool = Field(
        False,
        env="BOT_COOKIE_SECURE",
        description="mark staff cookies Secure even over plain HTTP (behind a proxy that terminates TLS)",
    )

    class Config:
        case_sensitive = True
        frozen = True

        @classmethod
        def parse_env_var(cls, field_name: str, raw_val: str) -> Any:
            if field_name in ("allowed_origins", "rasa_urls"):
                return tuple(origin.strip() for origin in raw_val.split(",") if origin.strip())
            return json.loads(raw_val)

    @validator("*", pre=True)
    def _blank_means_default(cls, value: Any, field: ModelField) -> Any:
        # `VAR=` in a shell or a compose file means "not set", as it always has here.
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return field.get_default()
        return value

    @validator("default_region")
    def _known_region(cls, value: str) -> str:
        region = value.lower()
        if region not in REGIONS:
            raise ValueError(f"must be one of {', '.join(REGIONS)}, not {value!r}")
        return region

    @validator("chat_rate_limit", "login_rate_limit")
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"not a rate limit such as 30/minute: {value!r}") from None
        return value

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def rasa_webhook_url(self) -> str:
        return f"{self.rasa_url}/webhooks/rest/webhook"

    @property
    def rasa_webhook_urls(self) -> Tuple[str, ...]:
        """Every Rasa server's REST channel, as the web app reaches them."""
        bases = self.rasa_urls or (self.rasa_url,)
        return tuple(f"{base.rstrip('/')}/webhooks/rest/webhook" for base in bases)

    @property
    def actions_url(self) -> str:
        return f"http://{self.host}:{self.actions_port}/webhook"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed, validated like the environment is."""
        return _validated(lambda: type(self)(**{**self.dict(), **changes}))

    def environment(self) -> Dict[str, str]:
        """These settings as the environment variables they are read from."""
        return {env_name(field): _as_env_text(getattr(self, name)) for name, field in self.__fields__.items()}


def env_name(field: ModelField) -> str:
    return field.field_info.extra["env"]


def _as_env_text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _validated(make) -> Settings:
    try:
        return make()
    except ValidationError as error:
        problems: List[str] = []
        for item in error.errors():
            field = Settings.__fields__.get(str(item["loc"][0]))
            name = env_name(field) if field else str(item["loc"][0])
            problems.append(f"{name}: {item['msg']}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


def load() -> Settings:
    """Settings from the environment (README, "Configuration"); SettingsError if unusable."""
    return _validated(Settings)


def shown_default(field: ModelField) -> str:
    """The default as the README writes it: relative to the project, never machine-specific."""
    if "shown_default" in field.field_info.extra:
        return field.field_info.extra["shown_default"]
    value = field.get_default()
    if value in ("", ()):
        return "empty"
    text = _as_env_text(value).replace(f"{ROOT}/", "")
    return f"`{text}`"


def configuration_table() -> str:
    """The README's configuration table, one row per field."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for field in Settings.__fields__.values():
        rows.append(f"| `{env_name(field)}` | {shown_default(field)} | {field.field_info.description} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(configuration_table(), end="")
