"""Retention runs inside the product: the web app purges old transcripts on a schedule,
on a real SQLite file, without a cron job and without ever falling over on a DB error."""

from __future__ import annotations

import asyncio
import logging
import time

import sqlalchemy as sa
from fastapi.testclient import TestClient

from bot import settings as settings_module
from bot.transcripts import db
from bot.transcripts.purge import run_on_schedule
from tests.staff.conftest import write_conversation

DAY = 86400.0
TURN = [("how long does withdrawal last", "withdrawal_timeline", 0.9, "About a week.", {})]


def senders(db_url: str) -> set:
    engine = sa.create_engine(db_url)
    with engine.connect() as c:
        ids = {r[0] for r in c.execute(sa.text("SELECT DISTINCT sender_id FROM events"))}
        ids |= {r[0] for r in c.execute(sa.text("SELECT sender_id FROM conversation_summaries"))}
    engine.dispose()
    return ids


def old_and_new(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'retention.db'}"
    db.migrate(url)
    write_conversation(url, "old-visitor", TURN, start=time.time() - 40 * DAY)
    write_conversation(url, "new-visitor", TURN, start=time.time() - 60)
    assert senders(url) == {"old-visitor", "new-visitor"}
    return url


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_the_web_app_purges_old_conversations_by_itself(tmp_path, caplog):
    url = old_and_new(tmp_path)
    settings = settings_module.load().replace(db_url=url, purge_interval=0.3, retention_days=30)
    from bot.web.app import create_app

    def logged() -> bool:
        return any("scheduled purge: 1 conversation(s) removed" in r.getMessage() for r in caplog.records)

    with caplog.at_level(logging.INFO, logger="bot.web"), TestClient(create_app(settings)) as client:
        assert wait_for(lambda: senders(url) == {"new-visitor"}, 30), senders(url)
        # the rows are gone when the purge commits; the line is logged after its VACUUM
        assert wait_for(logged, 30), [r.getMessage() for r in caplog.records]
        assert client.get("/healthz").status_code == 200
    engine = sa.create_engine(url)
    with engine.connect() as c:
        audited = c.execute(sa.text("SELECT username, action FROM audit_log WHERE action = 'purge'")).all()
    engine.dispose()
    assert audited == [("schedule", "purge")]


def test_a_zero_interval_turns_the_schedule_off(tmp_path):
    url = old_and_new(tmp_path)
    settings = settings_module.load().replace(db_url=url, purge_interval=0, retention_days=30)
    from bot.web.app import create_app

    with TestClient(create_app(settings)):
        time.sleep(1.0)
    assert senders(url) == {"old-visitor", "new-visitor"}


def test_a_database_error_is_logged_and_the_schedule_keeps_going(tmp_path, caplog):
    url = old_and_new(tmp_path)
    (tmp_path / "a-file").write_text("not a directory")
    missing = f"sqlite:///{tmp_path / 'a-file' / 'gone.db'}"

    async def scenario() -> bool:
        log = logging.getLogger("test.purge")
        broken = asyncio.create_task(run_on_schedule(missing, 30, 0.1, log))
        # two schedules on one database, as two web apps would run them
        working = asyncio.create_task(run_on_schedule(url, 30, 0.1, log))
        twin = asyncio.create_task(run_on_schedule(url, 30, 0.1, log))
        await asyncio.sleep(1.5)
        alive = not broken.done()
        for task in (broken, working, twin):
            task.cancel()
        await asyncio.gather(broken, working, twin, return_exceptions=True)
        return alive

    with caplog.at_level(logging.INFO, logger="test.purge"):
        assert asyncio.run(scenario()), "the schedule stopped after a database error"
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("scheduled purge failed") for m in messages), messages
    assert senders(url) == {"new-visitor"}
    removed = [m for m in messages if m.startswith("scheduled purge: ") and not m.startswith("scheduled purge: 0 ")]
    assert len(removed) == 1, removed  # the twin found nothing left to remove
