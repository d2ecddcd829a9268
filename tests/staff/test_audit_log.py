"""The audit log: every transcript view and every export writes an entry, and the database
itself refuses to change or delete one (SQLite here, PostgreSQL below), while the
retention purge still runs and leaves the log whole."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
import uuid
from typing import List, Tuple

import pytest
import sqlalchemy as sa

from tests.services import running_postgres
from tests.staff.conftest import Console, csrf_of, run_cli, write_conversation


def entries(console: Console) -> List[Tuple[int, str, str, str]]:
    with sqlite3.connect(console.db_path) as db:
        return list(db.execute("SELECT id, username, action, target FROM audit_log ORDER BY id"))


def new_entries(console: Console, since: int) -> List[Tuple[str, str, str]]:
    return [(user, action, target) for id_, user, action, target in entries(console) if id_ > since]


def last_id(console: Console) -> int:
    rows = entries(console)
    return rows[-1][0] if rows else 0


def one_conversation(console: Console, age_days: float = 0) -> str:
    sid = f"audit-{uuid.uuid4().hex[:8]}"
    reply = ("Most symptoms peak around day 2-3.", {"fact": "withdrawal_timeline"})
    turn = ("how long does withdrawal last", "withdrawal_timeline", 0.9, *reply)
    write_conversation(console.db_url, sid, [turn], start=time.time() - age_days * 86400)
    return sid


def test_every_transcript_view_and_every_export_is_an_entry(console):
    sid = one_conversation(console)
    http = console.login()
    before = last_id(console)
    page = http.get(f"{console.url}/staff/conversations/{sid}")
    assert page.status_code == 200
    assert http.get(f"{console.url}/staff/conversations/{sid}").status_code == 200  # a second look counts too
    token = csrf_of(page.text)
    exports = [
        ("/staff/export/conversations", {"format": "csv"}),
        ("/staff/export/conversations", {"format": "json"}),
        ("/staff/export/conversations", {"format": "json", "conversation_id": sid}),
        ("/staff/export/nlu", {}),
    ]
    for path, data in exports:
        response = http.post(console.url + path, data={**data, "csrf_token": token})
        assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    assert new_entries(console, before) == [
        ("alice", "view_transcript", sid),
        ("alice", "view_transcript", sid),
        ("alice", "export_conversations_csv", "all"),
        ("alice", "export_conversations_json", "all"),
        ("alice", "export_conversations_json", sid),
        ("alice", "export_nlu", ""),
    ]


def test_the_database_refuses_to_change_or_delete_an_entry(console):
    console.login()  # at least one entry
    before = entries(console)
    assert before
    with sqlite3.connect(console.db_path) as db:
        for statement in (
            "UPDATE audit_log SET username = 'someone-else'",
            "UPDATE audit_log SET action = 'nothing' WHERE id = (SELECT max(id) FROM audit_log)",
            "DELETE FROM audit_log",
            "DELETE FROM audit_log WHERE id = (SELECT min(id) FROM audit_log)",
        ):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(statement)
    assert entries(console) == before
    console.login()  # and the console still appends
    assert len(entries(console)) == len(before) + 1


def test_the_retention_purge_deletes_old_conversations_and_keeps_their_audit_entries(console):
    old = one_conversation(console, age_days=40)
    recent = one_conversation(console)
    http = console.login()
    assert http.get(f"{console.url}/staff/conversations/{old}").status_code == 200
    viewed = [e for e in entries(console) if e[2] == "view_transcript" and e[3] == old]
    assert len(viewed) == 1
    purged = run_cli(console.env, "purge", "--older-than", "30d")
    assert purged.returncode == 0, purged.stderr
    assert http.get(f"{console.url}/staff/conversations/{old}").status_code == 404
    assert http.get(f"{console.url}/staff/conversations/{recent}").status_code == 200
    assert viewed[0] in entries(console)


@pytest.mark.postgres
def test_postgres_refuses_update_delete_and_truncate_of_the_audit_log():
    from bot.transcripts import db, queries
    from bot.transcripts.purge import purge

    with running_postgres() as url:
        db.migrate(url)
        with db.session_scope(url) as session:
            queries.audit(session, "alice", "view_transcript", target="c-1")
        engine = sa.create_engine(url)
        try:
            for statement in (
                "UPDATE audit_log SET username = 'someone-else'",
                "DELETE FROM audit_log",
                "TRUNCATE audit_log",
            ):
                with engine.connect() as connection:
                    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                        connection.execute(sa.text(statement))
            with db.session_scope(url) as session:
                purge(session, dt.timedelta(days=0))
            with engine.connect() as connection:
                rows = connection.execute(sa.text("SELECT username, action, target FROM audit_log")).all()
            assert [tuple(r) for r in rows] == [("alice", "view_transcript", "c-1")]
        finally:
            engine.dispose()
            db.get_engine(url).dispose()
