"""The conversation list and the exports: what staff see, and what it costs the database.

Conversations are written through the real redacting tracker store. The cost tests, on
SQLite files, count the SQL statements sent to the database (a SQLAlchemy
`before_cursor_execute` listener) and check that ten times the conversations cost the same
number of statements. The behaviour tests pin which conversations the list shows, and in
which order, for every filter the console offers; they run on SQLite and on a throw-away
PostgreSQL server (the `postgres` marker).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import io
import json
import re
import uuid
from typing import Callable, Dict, Iterator, List

import pytest
import sqlalchemy as sa

from bot.transcripts import db, export, queries
from bot.transcripts.models import ConversationReview, ConversationTag, MessageRelabel
from tests.services import running_postgres
from tests.staff.conftest import write_conversation

UTC = dt.timezone.utc
DAY1 = dt.datetime(2024, 3, 1, tzinfo=UTC)


def at(day: int, hour: int) -> float:
    """Epoch seconds of 2024-03-<day> <hour>:00 UTC."""
    return (DAY1 + dt.timedelta(days=day - 1, hours=hour)).timestamp()


def date(day: int) -> dt.date:
    return (DAY1 + dt.timedelta(days=day - 1)).date()


def mark(
    db_url: str, sender_id: str, reviewed: bool = False, crisis_flag: bool = False, priority: int = 0, tags: tuple = ()
) -> None:
    """Review state and tags, written the way the console's routes write them."""
    with db.session_scope(db_url) as session:
        state = queries.review_state(session, sender_id)
        state.reviewed, state.crisis_flag, state.priority = reviewed, crisis_flag, priority
        for tag in tags:
            session.add(ConversationTag(sender_id=sender_id, tag=tag, added_by="alice", added_at=dt.datetime.utcnow()))


CONVERSATIONS = {
    "plain-1": (
        at(1, 10),
        [
            (
                "how long does withdrawal last",
                "withdrawal_timeline",
                0.93,
                "A week or so for most people.",
                {"fact": "withdrawal_timeline"},
            )
        ],
    ),
    "crisis-2": (
        at(1, 12),
        [
            (
                "i want to end it all tonight",
                "crisis_suicidal",
                0.88,
                "Please call 999 or Samaritans on 116 123 now.",
                {"utter_action": "utter_crisis_suicidal"},
            )
        ],
    ),
    "fallback-3": (
        at(2, 9),
        [
            (
                "blorp the thing",
                "nlu_fallback",
                0.31,
                "Sorry, I didn't understand.",
                {"utter_action": "utter_default"},
            )
        ],
    ),
    "lowconf-4": (
        at(2, 11),
        [
            (
                "what about the thing with methadone",
                "methadone_info",
                0.15,
                "Methadone is a long-acting opioid.",
                {"fact": "methadone_info"},
            )
        ],
    ),
    "reviewed-crisis-5": (
        at(3, 8),
        [
            (
                "he took too much and won't wake",
                "crisis_medical",
                0.9,
                "Call 999 now.",
                {"utter_action": "utter_crisis_medical"},
            )
        ],
    ),
    "priority-6": (at(1, 8), [("is naloxone safe", "naloxone", 0.9, "Yes.", {"fact": "naloxone"})]),
    "flagged-7": (
        at(2, 15),
        [
            (
                "my name is Ann Lee, call 07700 900123, i feel scared",
                "greet",
                0.7,
                "Hello.",
                {"utter_action": "utter_greet"},
            )
        ],
    ),
    "multi-9": (
        at(1, 20),
        [
            ("first", "greet", 0.9, "Hi.", {"utter_action": "utter_greet"}),
            (
                "second question about heroin",
                "what_is_heroin",
                0.8,
                "Heroin is an opioid.",
                {"fact": "what_is_heroin"},
            ),
        ],
    ),
    "actionfb-10": (
        at(3, 12),
        [("hmm", "greet", 0.95, "Sorry, say that another way?", {"utter_action": "action_default_fallback"})],
    ),
}


def write_fixture(db_url: str) -> None:
    for sender_id, (start, turns) in CONVERSATIONS.items():
        if len(turns) > 1:  # saved turn by turn, as Rasa does, so the summary is updated twice
            write_conversation(db_url, sender_id, turns[:1], start=start, step=2 * 86400)
        write_conversation(db_url, sender_id, turns, start=start, step=2 * 86400)
    write_conversation(db_url, "silent-8", [], start=at(3, 9))  # session start only: never listed
    mark(db_url, "crisis-2", priority=1)
    mark(db_url, "reviewed-crisis-5", reviewed=True)
    mark(db_url, "priority-6", priority=2)
    mark(db_url, "flagged-7", crisis_flag=True, tags=("follow-up",))
    with db.session_scope(db_url) as session:  # staff relabel one visitor message
        first = queries.transcript(session, "lowconf-4")[0]
        session.add(
            MessageRelabel(
                event_id=first.event_id,
                sender_id="lowconf-4",
                text=first.text,
                predicted_intent=first.intent,
                intent="methadone_myths",
                relabelled_by="alice",
                created_at=dt.datetime.utcnow(),
            )
        )


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[str]:
    with running_postgres("bot_query_cost") as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_database(request, tmp_path_factory) -> Callable[[], str]:
    """Makes empty databases of one kind (SQLite files, or databases on one PostgreSQL server)."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("databases")
        return lambda: f"sqlite:///{folder / uuid.uuid4().hex}.db"
    server = request.getfixturevalue("postgres_server").rsplit("/", 1)[0]

    def create() -> str:
        name = f"conversations_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f"CREATE DATABASE {name}"))
        admin.dispose()
        return f"{server}/{name}"

    return create


@pytest.fixture(scope="module")
def fixture_db(new_database) -> str:
    db_url = new_database()
    write_fixture(db_url)
    return db_url


ALL_NEWEST_FIRST = [
    "multi-9",
    "actionfb-10",
    "reviewed-crisis-5",
    "flagged-7",
    "lowconf-4",
    "fallback-3",
    "crisis-2",
    "plain-1",
    "priority-6",
]


def listed(db_url: str, page: int = 1, per_page: int = 25, **filters) -> tuple:
    with db.session_scope(db_url) as session:
        items, total = queries.list_conversations(session, queries.Filters(**filters), page=page, per_page=per_page)
        return [c.sender_id for c in items], total


@pytest.mark.parametrize(
    "filters,expected",
    [
        ({}, ALL_NEWEST_FIRST),
        # unreviewed crises first (staff priority, then newest), then the rest by priority and recency
        (
            {"view": "needs_review"},
            ["crisis-2", "flagged-7", "priority-6", "multi-9", "actionfb-10", "lowconf-4", "fallback-3", "plain-1"],
        ),
        ({"view": "needs_review", "crisis": True}, ["crisis-2", "flagged-7"]),
        ({"crisis": True}, ["reviewed-crisis-5", "flagged-7", "crisis-2"]),
        ({"crisis": False}, ["multi-9", "actionfb-10", "lowconf-4", "fallback-3", "plain-1", "priority-6"]),
        ({"fallback": True}, ["actionfb-10", "lowconf-4", "fallback-3"]),
        ({"fallback": False}, ["multi-9", "reviewed-crisis-5", "flagged-7", "crisis-2", "plain-1", "priority-6"]),
        ({"intent": "methadone_info"}, ["lowconf-4"]),
        ({"intent": "greet"}, ["multi-9", "actionfb-10", "flagged-7"]),
        ({"intent": "not_an_intent"}, []),
        ({"reviewed": True}, ["reviewed-crisis-5"]),
        ({"reviewed": False}, [s for s in ALL_NEWEST_FIRST if s != "reviewed-crisis-5"]),
        ({"tag": "follow-up"}, ["flagged-7"]),
        ({"tag": "other"}, []),
        ({"date_from": date(3)}, ["multi-9", "actionfb-10", "reviewed-crisis-5"]),
        ({"date_to": date(1)}, ["multi-9", "crisis-2", "plain-1", "priority-6"]),
        ({"date_from": date(2), "date_to": date(2)}, ["multi-9", "flagged-7", "lowconf-4", "fallback-3"]),
        ({"date_to": date(1) - dt.timedelta(days=1)}, []),
        ({"q": "METHADONE"}, ["lowconf-4"]),  # case-insensitive, visitor and bot texts
        ({"q": "a week or so"}, ["plain-1"]),  # a bot text
        ({"q": "withdrawal last"}, ["plain-1"]),
        ({"q": "ed-cri"}, ["reviewed-crisis-5"]),  # the conversation id
        ({"q": "[phone]"}, ["flagged-7"]),  # what is stored is the redacted text...
        ({"q": "07700"}, []),  # ...so the number itself is found nowhere
        ({"q": "Ann Lee"}, []),
        ({"q": "100%_"}, []),  # LIKE wildcards are plain characters
        ({"q": "heroin", "intent": "what_is_heroin", "date_from": date(3), "fallback": False}, ["multi-9"]),
    ],
)
def test_list_shows_the_right_conversations_in_the_right_order(fixture_db, filters, expected):
    ids, total = listed(fixture_db, **filters)
    assert ids == expected
    assert total == len(expected)


def test_list_pages(fixture_db):
    pages = [listed(fixture_db, page=p, per_page=4) for p in (1, 2, 3, 4)]
    assert [ids for ids, _ in pages] == [ALL_NEWEST_FIRST[:4], ALL_NEWEST_FIRST[4:8], ALL_NEWEST_FIRST[8:], []]
    assert {total for _, total in pages} == {9}
    assert listed(fixture_db, page=0, per_page=4)[0] == ALL_NEWEST_FIRST[:4]  # page 0 is page 1


def test_list_items_carry_what_the_console_shows(fixture_db):
    with db.session_scope(fixture_db) as session:
        items = {c.sender_id: c for c in queries.list_conversations(session, queries.Filters(), per_page=25)[0]}
        intents, tags = queries.known_intents(session), queries.all_tags(session)
    flagged, multi, lowconf = items["flagged-7"], items["multi-9"], items["lowconf-4"]
    assert flagged.crisis and flagged.crisis_flag and not flagged.crisis_auto and flagged.tags == ["follow-up"]
    assert flagged.preview == "my name is [NAME], call [PHONE], i feel scared"
    assert (multi.user_messages, multi.bot_messages) == (2, 2)
    assert multi.started == dt.datetime(2024, 3, 1, 20, 0, 0)
    assert multi.last == dt.datetime(2024, 3, 3, 20, 0, 3)  # the bot's last action on the second visit
    assert [name for name, _ in multi.intents.most_common(3)] == ["greet", "what_is_heroin"]
    assert lowconf.low_confidence and not lowconf.fallback
    assert items["fallback-3"].fallback and items["actionfb-10"].fallback
    assert items["crisis-2"].crisis_auto and items["crisis-2"].priority == 1
    assert items["reviewed-crisis-5"].reviewed and not items["crisis-2"].reviewed
    assert intents == [
        "crisis_medical",
        "crisis_suicidal",
        "greet",
        "methadone_info",
        "naloxone",
        "nlu_fallback",
        "what_is_heroin",
        "withdrawal_timeline",
    ]
    assert tags == ["follow-up"]


def test_exports_list_conversations_oldest_first_with_every_message(fixture_db):
    with db.session_scope(fixture_db) as session:
        exported = json.loads(export.export_conversations(session, "json"))
        rows = list(csv.DictReader(io.StringIO(export.export_conversations(session, "csv"))))
        one = json.loads(export.export_conversations(session, "json", sender_ids=["multi-9", "nobody"]))
    order = [
        "priority-6",
        "plain-1",
        "crisis-2",
        "multi-9",
        "fallback-3",
        "lowconf-4",
        "flagged-7",
        "reviewed-crisis-5",
        "actionfb-10",
    ]
    assert [c["conversation_id"] for c in exported] == order
    by_id = {c["conversation_id"]: c for c in exported}
    assert [m["speaker"] for m in by_id["multi-9"]["messages"]] == ["visitor", "bot", "visitor", "bot"]
    assert by_id["flagged-7"]["crisis"] and by_id["flagged-7"]["tags"] == ["follow-up"]
    assert by_id["reviewed-crisis-5"]["reviewed"] and not by_id["plain-1"]["crisis"]
    assert by_id["flagged-7"]["messages"][0]["text"] == "my name is [NAME], call [PHONE], i feel scared"
    assert by_id["actionfb-10"]["messages"][1]["source"] == "response: action_default_fallback"
    assert by_id["lowconf-4"]["messages"][1]["source"] == "fact: methadone_info"
    relabelled = [(r["conversation_id"], r["speaker"]) for r in rows if r["relabelled_intent"]]
    assert relabelled == [("lowconf-4", "visitor")]
    assert by_id["lowconf-4"]["messages"][0]["relabelled_intent"] == "methadone_myths"
    assert [r["conversation_id"] for r in rows] == [sid for sid in order for _ in by_id[sid]["messages"]]
    assert [r["text"] for r in rows] == [m["text"] for sid in order for m in by_id[sid]["messages"]]
    assert one == [by_id["multi-9"]]


def test_the_migration_lists_conversations_stored_before_it(new_database):
    """Back to the schema without summaries, then up again: the back-fill folds the stored
    events into the same summaries the tracker store kept save by save."""
    from alembic import command

    db_url = new_database()
    write_fixture(db_url)
    engine = db.get_engine(db_url)

    def tables():
        with engine.connect() as c:
            return [
                c.execute(sa.text(f"SELECT * FROM {t} ORDER BY 1, 2")).all()
                for t in ("conversation_summaries", "conversation_intents")
            ]

    kept = tables()
    for step, target in ((command.downgrade, "0001_initial"), (command.upgrade, "head")):
        config = db.alembic_config(db_url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            step(config, target)
            if target == "0001_initial":
                assert not sa.inspect(connection).has_table("conversation_summaries")
    assert tables() == kept and len(kept[0]) == 10
    assert listed(db_url)[0] == ALL_NEWEST_FIRST
    assert listed(db_url, q="[phone]")[0] == ["flagged-7"]
    engine.dispose()


# --------------------------------------------------------------------------- cost

INTENTS = ["withdrawal_timeline", "methadone_info", "crisis_suicidal", "nlu_fallback", "greet"]


def write_many(db_url: str, count: int) -> None:
    """`count` conversations through one redacting store, some reviewed, flagged or tagged."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.transcripts.tracker_store import RedactingTrackerStore

    store = RedactingTrackerStore(domain=Domain.empty(), host=db_url)
    for i in range(count):
        ts = at(1, 0) + i * 600
        events = [
            ActionExecuted("action_session_start", timestamp=ts),
            SessionStarted(timestamp=ts),
            ActionExecuted("action_listen", timestamp=ts),
        ]
        for turn in range(3):
            intent = INTENTS[(i + turn) % len(INTENTS)]
            confidence = 0.1 + (i % 9) / 10
            text = f"message {turn} of conversation {i}, ring 07700 900{i % 1000:03d}"
            events += [
                UserUttered(
                    text,
                    {"name": intent, "confidence": confidence},
                    [],
                    parse_data={"intent": {"name": intent, "confidence": confidence}, "entities": [], "text": text},
                    timestamp=ts + turn * 10 + 1,
                ),
                ActionExecuted("action_answer_topic", timestamp=ts + turn * 10 + 2),
                BotUttered(f"reply {turn}", metadata={"fact": intent}, timestamp=ts + turn * 10 + 2),
                ActionExecuted("action_listen", timestamp=ts + turn * 10 + 3),
            ]
        asyncio.run(store.save(DialogueStateTracker.from_events(f"conv-{i:05d}", events, slots=[])))
    store.engine.dispose()
    with db.session_scope(db_url) as session:
        for i in range(0, count, 3):
            session.add(
                ConversationReview(
                    sender_id=f"conv-{i:05d}",
                    reviewed=i % 2 == 0,
                    crisis_flag=i % 5 == 0,
                    priority=i % 4,
                    updated_at=dt.datetime.utcnow(),
                )
            )
            session.add(ConversationTag(sender_id=f"conv-{i:05d}", tag=f"tag{i % 4}", added_at=dt.datetime.utcnow()))


@contextlib.contextmanager
def statements(db_url: str) -> Iterator[List[str]]:
    seen: List[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = db.get_engine(db_url)
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


WORK = {  # each returns what it found, so an empty result cannot pass for a cheap one
    "list": lambda s: queries.list_conversations(s, queries.Filters(), page=2, per_page=25)[0],
    "needs review": lambda s: queries.list_conversations(s, queries.Filters(view="needs_review"))[0],
    "filtered": lambda s: queries.list_conversations(
        s,
        queries.Filters(
            crisis=True,
            fallback=True,
            intent="greet",
            reviewed=False,
            date_from=date(1),
            date_to=date(400),
            q="conversation",
        ),
    )[0],
    "tagged": lambda s: queries.list_conversations(s, queries.Filters(tag="tag0"))[0],
    "filter choices": lambda s: queries.known_intents(s) + queries.all_tags(s),
    "all conversations": queries.conversations,
    "export json": lambda s: json.loads(export.export_conversations(s, "json")),
    "export csv": lambda s: export.export_conversations(s, "csv").splitlines()[1:],
    "export one": lambda s: export.export_conversations(s, "csv", sender_ids=["conv-00001"]).splitlines()[1:],
}


def cost(db_url: str) -> Dict[str, int]:
    db.migrate(db_url)
    counts = {}
    for name, work in WORK.items():
        with db.session_scope(db_url) as session, statements(db_url) as seen:
            result = work(session)
            assert result, name  # every piece of work has something to show at both sizes
        counts[name] = len(seen)
    return counts


def test_list_and_export_cost_the_same_statements_for_ten_times_the_conversations(tmp_path):
    small, large = f"sqlite:///{tmp_path / 'small.db'}", f"sqlite:///{tmp_path / 'large.db'}"
    write_many(small, 30)
    write_many(large, 300)
    small_cost, large_cost = cost(small), cost(large)
    assert small_cost == large_cost
    assert max(small_cost.values()) <= 5, small_cost


def test_the_list_reads_no_events(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'events.db'}"
    write_many(db_url, 5)
    db.migrate(db_url)
    with db.session_scope(db_url) as session, statements(db_url) as seen:
        queries.list_conversations(session, queries.Filters(q="message", intent="greet"))
        queries.list_conversations(session, queries.Filters(view="needs_review"))
        queries.known_intents(session)
        queries.all_tags(session)
    assert seen and not [s for s in seen if re.search(r"\bevents\b", s)]
