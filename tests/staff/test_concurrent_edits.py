"""Two staff members (or two clicks) marking or tagging the same conversation at the same
moment: both get their page, one row results, nothing fails. Found by tests/web/test_fuzz.py
as 500s (UNIQUE constraint failed) when requests raced."""

from __future__ import annotations

import datetime as dt
import threading
from typing import List

from bot.transcripts import db, queries
from bot.transcripts.models import ConversationReview, ConversationTag


def race(target, times: int = 8) -> List[BaseException]:
    errors: List[BaseException] = []
    start = threading.Barrier(times)

    def run() -> None:
        start.wait()
        try:
            target()
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_racing_reviews_and_tags_make_one_row_each(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    db.migrate(url)
    inserted: List[bool] = []

    def review() -> None:
        with db.session_scope(url) as session:
            queries.review_state(session, "abc").reviewed = True

    def tag() -> None:
        with db.session_scope(url) as session:
            values = dict(sender_id="abc", tag="urgent", added_by="sam", added_at=dt.datetime.utcnow())
            inserted.append(queries.insert_if_missing(session, ConversationTag.__table__, values))

    assert race(review) == []
    assert race(tag) == []
    with db.session_scope(url) as session:
        assert session.query(ConversationReview).filter_by(sender_id="abc").one().reviewed is True
        assert session.query(ConversationTag).filter_by(sender_id="abc").count() == 1
    assert inserted.count(True) == 1, "exactly one click added the tag (and was audited)"
