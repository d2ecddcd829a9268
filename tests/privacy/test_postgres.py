"""The redacting tracker store, the migrations, queries and purge on a real PostgreSQL.

The test starts its own throw-away server (initdb into a temp dir, loopback only, trust
auth for the local test user) and stops it afterwards. Skipped only when the PostgreSQL
server binaries are not installed (Debian: `apt-get install postgresql`).
"""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa

from bot import contacts
from tests.services import running_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def postgres_url():
    with running_postgres() as url:
        yield url


def test_store_migrations_queries_and_purge_on_postgres(postgres_url):
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.transcripts import db, queries
    from bot.transcripts.purge import purge
    from bot.transcripts.tracker_store import RedactingTrackerStore

    store = RedactingTrackerStore(domain=Domain.empty(), host=postgres_url)
    emergency = contacts.for_region("uk")["emergency"]["number"]
    text = "my name is Imogen Pryce, NHS 943 476 5919, ssn 123-45-6789, I'm at 3 Mill Lane CB2 1TN"
    old = time.time() - 40 * 86400
    for sid, ts in (("pg-new", time.time()), ("pg-old", old)):
        tracker = DialogueStateTracker.from_events(
            sid,
            [
                ActionExecuted("action_listen", timestamp=ts),
                UserUttered(text, {"name": "crisis_medical", "confidence": 0.7}, [], timestamp=ts + 1),
                BotUttered(
                    f"Hi Imogen Pryce, call {emergency}",
                    metadata={"utter_action": "utter_crisis_medical"},
                    timestamp=ts + 2,
                ),
            ],
            slots=[],
        )
        asyncio.run(store.save(tracker))

    with store.engine.connect() as c:
        stored = " ".join(r[0] for r in c.execute(sa.text("SELECT data FROM events")))
    for secret in ("Imogen", "Pryce", "943 476 5919", "123-45-6789", "Mill Lane", "CB2 1TN"):
        assert secret not in stored
    assert "my name is [NAME], NHS [NHS_NUMBER], ssn [SSN]" in stored
    assert f"Hi [NAME], call {emergency}" in stored

    # the store migrated our tables; migrating again is a no-op
    db._migrated.discard(postgres_url)
    db.migrate(postgres_url)
    tables = set(sa.inspect(db.get_engine(postgres_url)).get_table_names())
    assert {"events", "staff_users", "audit_log", "message_relabels", "transcripts_alembic_version"} <= tables

    with db.session_scope(postgres_url) as session:
        convs = queries.conversations(session)
        assert set(convs) == {"pg-new", "pg-old"} and convs["pg-new"].crisis
        assert [t.source for t in queries.transcript(session, "pg-new")][-1] == "response: utter_crisis_medical"
        import datetime as dt

        result = purge(session, dt.timedelta(days=30))
        assert result.conversations == ["pg-old"]
    with db.session_scope(postgres_url) as session:
        assert set(queries.conversations(session)) == {"pg-new"}
    store.engine.dispose()
    db.get_engine(postgres_url).dispose()
