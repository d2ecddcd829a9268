"""Engine, sessions and programmatic Alembic migrations for the transcripts database.

The database URL comes from `BOT_DB_URL` (via `bot.settings`); SQLite by default,
PostgreSQL via a `postgresql://` URL. `migrate(url)` brings the schema to the latest
revision without needing an alembic.ini (the web app and the CLI call it on start).
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_engines: Dict[str, Engine] = {}
_migrated: set = set()
_lock = threading.Lock()


def default_url() -> str:
    from bot import settings

    return settings.load().db_url


def _prepare_sqlite(url: str) -> None:
    u = sa.engine.make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)


def get_engine(url: Optional[str] = None) -> Engine:
    url = url or default_url()
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            _prepare_sqlite(url)
            kwargs: Dict[str, Any] = {"future": True}
            if url.startswith("sqlite"):
                kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            else:
                kwargs["pool_pre_ping"] = True
            engine = sa.create_engine(url, **kwargs)
            _engines[url] = engine
        return engine


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: Optional[str] = None) -> None:
    """Upgrade the database at `url` to the newest revision (idempotent, once per process)."""
    from alembic import command

    url = url or default_url()
    with _lock:
        if url in _migrated:
            return
    engine = get_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
    with _lock:
        _migrated.add(url)


@contextlib.contextmanager
def session_scope(url: Optional[str] = None) -> Iterator[Session]:
    """A transactional session on the (migrated) database; commits on success."""
    url = url or default_url()
    migrate(url)
    session = sessionmaker(bind=get_engine(url), future=True)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
