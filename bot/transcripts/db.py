"""Engine, sessions and programmatic Alembic migrations for the transcripts database.

The database URL comes from `BOT_DB_URL` (via `bot.settings`); SQLite by default,
PostgreSQL via a `postgresql://` URL. `migrate(url)` brings the schema to the latest
revision without needing an alembic.ini. It runs once, in one place, before the servers
start: `bot.stack` (`bot run`, the tests) or `bot migrate` for other deployments. A server
process calls `migrations_run_elsewhere()` first; from then on `migrate()` only checks that
the schema is current and never changes it.
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
_check_only = False


class SchemaNotCurrent(RuntimeError):
    """The database is not at the newest revision, in a process that must not migrate it."""


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


def migrations_run_elsewhere() -> None:
    """Mark this process as a server started after the one migration (`bot.stack` or
    `bot migrate`): `migrate()` and `session_scope()` then only check the revision."""
    global _check_only
    _check_only = True


def check_current(url: Optional[str] = None) -> None:
    """Raise SchemaNotCurrent unless the database at `url` is at the newest revision."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    url = url or default_url()
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with get_engine(url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": "transcripts_alembic_version"})
        current = context.get_current_revision()
    if current != head:
        raise SchemaNotCurrent(
            f"the transcripts database is at revision {current or 'none'}, this code needs {head}: "
            "run `bot migrate` (or start the product with `bot run`)"
        )


def migrate(url: Optional[str] = None) -> None:
    """Upgrade the database at `url` to the newest revision (idempotent, once per process).

    In a server process (`migrations_run_elsewhere()`), only check that it is current."""
    from alembic import command

    url = url or default_url()
    with _lock:
        if url in _migrated:
            return
    if _check_only:
        check_current(url)
    else:
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
