"""Retention purge and exports, through the CLI modules the `bot` command dispatches to."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import time
import uuid

import pytest
import sqlalchemy as sa

from bot.paths import ROOT
from tests.staff.conftest import csrf_of, run_cli, write_conversation

DAY = 86400.0


@pytest.fixture
def fresh_env(tmp_path):
    import os

    db_url = f"sqlite:///{tmp_path / 'purge.db'}"
    env = dict(os.environ, BOT_DB_URL=db_url, PYTHONPATH=str(ROOT), BOT_SECRET_KEY="k" * 32)
    return db_url, env


def sender_ids(db_url):
    engine = sa.create_engine(db_url)
    with engine.connect() as c:
        ids = {r[0] for r in c.execute(sa.text("SELECT DISTINCT sender_id FROM events"))}
        derived = {
            table: {r[0] for r in c.execute(sa.text(f"SELECT sender_id FROM {table}"))}
            for table in ("conversation_reviews", "conversation_tags", "conversation_notes", "message_relabels")
        }
    engine.dispose()
    return ids, derived


def test_purge_deletes_exactly_the_conversations_older_than_the_cutoff(fresh_env):
    db_url, env = fresh_env
    now = time.time()
    old = {"old-40d": now - 40 * DAY, "old-31d": now - 31 * DAY - 3600}
    # started 31 days ago but still talking 29 days ago: its last activity is inside the window
    kept = {"recent-1d": now - DAY, "recent-29d": now - 29 * DAY}
    for sid, start in {**old, **kept}.items():
        write_conversation(
            db_url, sid, [("how long does withdrawal last", "withdrawal_timeline", 0.9, "A week.", {})], start=start
        )
    write_conversation(
        db_url,
        "long-running",
        [("first", "greet", 0.9, "Hi", {}), ("second", "relabel_me", 0.9, "Ok", {})],
        start=now - 31 * DAY,
        step=2 * DAY,
    )
    kept["long-running"] = now - 29 * DAY
    engine = sa.create_engine(db_url)
    with engine.begin() as c:  # review state, tags, notes, relabels for one old and one kept conversation
        for sid in ("old-40d", "recent-1d"):
            c.execute(
                sa.text(
                    "INSERT INTO conversation_reviews (sender_id, reviewed, crisis_flag, priority, updated_at)"
                    " VALUES (:s, 1, 0, 0, '2024-01-01')"
                ),
                {"s": sid},
            )
            c.execute(
                sa.text("INSERT INTO conversation_tags (sender_id, tag, added_at) VALUES (:s, 't', '2024-01-01')"),
                {"s": sid},
            )
            c.execute(
                sa.text(
                    "INSERT INTO conversation_notes (sender_id, author, text, created_at)"
                    " VALUES (:s, 'a', 'n', '2024-01-01')"
                ),
                {"s": sid},
            )
            c.execute(
                sa.text(
                    "INSERT INTO message_relabels (event_id, sender_id, text, entities, intent, relabelled_by,"
                    " created_at) VALUES (:e, :s, 'x', '[]', 'greet', 'a', '2024-01-01')"
                ),
                {"s": sid, "e": hash(sid) % 100000},
            )
    engine.dispose()

    dry = run_cli(env, "purge", "--older-than", "30d", "--dry-run")
    assert dry.returncode == 0 and "would delete 2 conversation(s)" in dry.stdout
    assert sender_ids(db_url)[0] == set(old) | set(kept)

    result = run_cli(env, "purge", "--older-than", "30d")
    assert result.returncode == 0, result.stderr
    assert "deleted 2 conversation(s)" in result.stdout
    ids, derived = sender_ids(db_url)
    assert ids == set(kept)
    for table, owners in derived.items():
        assert owners == {"recent-1d"}, table
    engine = sa.create_engine(db_url)
    with engine.connect() as c:  # the list's summaries go with their conversations
        for table in ("conversation_summaries", "conversation_intents"):
            assert {r[0] for r in c.execute(sa.text(f"SELECT sender_id FROM {table}"))} == set(kept), table
    engine.dispose()
    # running it again deletes nothing more
    assert "deleted 0 conversation(s)" in run_cli(env, "purge", "--older-than", "30d").stdout
    assert run_cli(env, "purge", "--older-than", "thirty").returncode == 2


def test_purge_of_hours(fresh_env):
    db_url, env = fresh_env
    now = time.time()
    write_conversation(db_url, "a", [("hi", "greet", 0.9, "Hi", {})], start=now - 3 * 3600)
    write_conversation(db_url, "b", [("hi", "greet", 0.9, "Hi", {})], start=now - 600)
    assert run_cli(env, "purge", "--older-than", "2h").returncode == 0
    assert sender_ids(db_url)[0] == {"b"}


def test_export_conversations_cli_is_redacted_csv_and_json(fresh_env):
    db_url, env = fresh_env
    write_conversation(
        db_url,
        "c1",
        [
            ("my name is Ann Lee, ring 07700 900123", "greet", 0.7, "Hello.", {"utter_action": "utter_greet"}),
            ('=HYPERLINK("http://x") is methadone safe', "methadone_info", 0.8, "Info.", {"fact": "methadone_info"}),
        ],
    )
    out = run_cli(env, "export-conversations", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    messages = data[0]["messages"]
    assert messages[0]["text"] == "my name is [NAME], ring [PHONE]" and messages[1]["source"] == "response: utter_greet"
    assert messages[3]["source"] == "fact: methadone_info"
    assert "Ann" not in out.stdout and "07700" not in out.stdout
    out = run_cli(env, "export-conversations", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["speaker"] for r in rows] == ["visitor", "bot", "visitor", "bot"]
    assert rows[2]["text"].startswith("'=HYPERLINK")  # no spreadsheet formula injection
    audit = sa.create_engine(db_url).connect().execute(sa.text("SELECT action FROM audit_log")).all()
    assert {a for (a,) in audit} >= {"export_conversations_json", "export_conversations_csv"}


def test_relabel_then_export_nlu_merges_into_valid_training_data(console, tmp_path):
    sid = f"relabel-{uuid.uuid4().hex[:6]}"
    write_conversation(
        console.db_url,
        sid,
        [
            ("is methadone just swapping one drug for heroin for my son", "what_is_heroin", 0.41, "...", {}),
            ("my name is Kay Obi and i feel rough, email kay@obi.net", "greet", 0.35, "...", {}),
            ("ok (fine) [really]", "affirm", 0.4, "...", {}),
        ],
    )
    http = console.login()
    page = http.get(f"{console.url}/staff/conversations/{sid}").text
    token = csrf_of(page)
    import re

    event_ids = re.findall(r"/staff/messages/(\d+)/relabel", page)
    assert len(event_ids) == 3
    for event_id, intent in zip(event_ids, ("methadone_myths", "withdrawal_symptoms", "affirm")):
        r = http.post(
            f"{console.url}/staff/messages/{event_id}/relabel",
            data={"intent": intent, "csrf_token": token},
            allow_redirects=False,
        )
        assert r.status_code == 303
    bad = http.post(
        f"{console.url}/staff/messages/{event_ids[0]}/relabel",
        data={"intent": "not_an_intent", "csrf_token": token},
        allow_redirects=False,
    )
    assert bad.status_code == 400
    page = http.get(f"{console.url}/staff/conversations/{sid}").text
    assert "relabelled → methadone_myths" in page

    out_file = tmp_path / "relabelled.yml"
    result = run_cli(console.env, "export-nlu", "--out", str(out_file))
    assert result.returncode == 0, result.stderr
    exported = out_file.read_text()
    assert "[methadone](medication)" in exported and "[heroin](substance)" in exported
    assert "[son](family_member)" in exported
    assert "my name is NAME and i feel rough, email EMAIL" in exported
    assert "Kay" not in exported and "kay@obi.net" not in exported
    button = http.post(f"{console.url}/staff/export/nlu", data={"csrf_token": token})
    assert button.text == exported

    # merge into a copy of the project and validate with Rasa
    project = tmp_path / "project"
    project.mkdir()
    for name in ("domain.yml", "config.yml"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "data", project / "data")
    shutil.copy(out_file, project / "data" / "relabelled.yml")
    validate = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "rasa"),
            "data",
            "validate",
            "--domain",
            "domain.yml",
            "--data",
            "data",
            "--config",
            "config.yml",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env={**console.env, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert validate.returncode == 0, validate.stdout[-3000:] + validate.stderr[-3000:]

    from rasa.shared.nlu.training_data.loading import load_data

    merged = load_data(str(project / "data" / "nlu")).merge(load_data(str(project / "data" / "relabelled.yml")))
    labelled = {m.get("text"): m.get("intent") for m in merged.intent_examples}
    assert labelled["is methadone just swapping one drug for heroin for my son"] == "methadone_myths"
    assert labelled["my name is NAME and i feel rough, email EMAIL"] == "withdrawal_symptoms"
    entities = [
        e
        for m in merged.intent_examples
        if m.get("text").startswith("is methadone just")
        for e in m.get("entities", [])
    ]
    assert {(e["entity"], e["value"]) for e in entities} >= {("medication", "methadone"), ("substance", "heroin")}
