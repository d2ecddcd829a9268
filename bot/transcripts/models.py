"""Our own tables beside Rasa's `events` table (SQLAlchemy 1.4 declarative models).

The schema is owned by the Alembic migrations in `bot/transcripts/migrations/`; these
models describe it for the ORM. Conversations are identified by Rasa's `sender_id`.
Nothing here holds visitor personal data: note texts are redacted on the way in, and
relabels and conversation summaries copy the already-redacted message texts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import declarative_base

Base: Any = declarative_base()  # Any: mypy cannot see the declarative base without a plugin


def utcnow() -> dt.datetime:
    return dt.datetime.utcnow()


# Rasa's own table, described here only so queries can use it (Rasa creates and writes it;
# the first migration creates it too when the web app starts before Rasa ever did).
events = sa.Table(
    "events",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255), nullable=False, index=True),
    sa.Column("type_name", sa.String(255), nullable=False),
    sa.Column("timestamp", sa.Float),
    sa.Column("intent_name", sa.String(255)),
    sa.Column("action_name", sa.String(255)),
    sa.Column("data", sa.Text),
)


class StaffUser(Base):
    __tablename__ = "staff_users"
    id = sa.Column(sa.Integer, primary_key=True)
    username = sa.Column(sa.String(80), nullable=False, unique=True)
    password_hash = sa.Column(sa.String(255), nullable=False)
    active = sa.Column(sa.Boolean, nullable=False, default=True)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    last_login_at = sa.Column(sa.DateTime)
    # TOTP second factor (bot.web.staff.totp): the shared secret, encrypted with a key
    # derived from the session secret, or NULL when the account signs in with a password only
    totp_secret = sa.Column(sa.String(255))
    # the 30-second time step of the last code accepted: a code is good once, never again
    totp_last_step = sa.Column(sa.BigInteger)


class StaffSession(Base):
    """Server-side sessions; the cookie carries a random token whose SHA-256 is the key."""

    __tablename__ = "staff_sessions"
    token_hash = sa.Column(sa.String(64), primary_key=True)
    user_id = sa.Column(sa.Integer, sa.ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False)
    csrf_token = sa.Column(sa.String(64), nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    last_seen_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    id = sa.Column(sa.Integer, primary_key=True)
    username = sa.Column(sa.String(80), nullable=False, index=True)
    client = sa.Column(sa.String(64), nullable=False, default="")
    success = sa.Column(sa.Boolean, nullable=False, default=False)
    at = sa.Column(sa.DateTime, nullable=False, default=utcnow, index=True)


class ConversationReview(Base):
    __tablename__ = "conversation_reviews"
    sender_id = sa.Column(sa.String(255), primary_key=True)
    reviewed = sa.Column(sa.Boolean, nullable=False, default=False)
    reviewed_by = sa.Column(sa.String(80))
    reviewed_at = sa.Column(sa.DateTime)
    crisis_flag = sa.Column(sa.Boolean, nullable=False, default=False)  # set by staff
    priority = sa.Column(sa.Integer, nullable=False, default=0)
    updated_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class ConversationTag(Base):
    __tablename__ = "conversation_tags"
    sender_id = sa.Column(sa.String(255), primary_key=True)
    tag = sa.Column(sa.String(64), primary_key=True, index=True)
    added_by = sa.Column(sa.String(80))
    added_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class ConversationSummary(Base):
    """One row per conversation, folded from its stored events by `bot.transcripts.summary`,
    so that the staff list filters and sorts here instead of reading every event.

    Review state and tags stay in their own tables (staff write those); the list joins them.
    Texts here come from the stored, already redacted events and are redacted once more.
    """

    __tablename__ = "conversation_summaries"
    sender_id = sa.Column(sa.String(255), primary_key=True)
    # events.id of the first message or action: keeps ties in the order conversations began
    first_event_id = sa.Column(sa.Integer)
    # events.id of the newest event folded in; the next update reads only what came after
    last_event_id = sa.Column(sa.Integer, nullable=False, default=0)
    started_at = sa.Column(sa.Float, index=True)  # epoch seconds, like events.timestamp
    last_at = sa.Column(sa.Float, index=True)
    user_messages = sa.Column(sa.Integer, nullable=False, default=0)
    bot_messages = sa.Column(sa.Integer, nullable=False, default=0)
    crisis_auto = sa.Column(sa.Boolean, nullable=False, default=False)
    fallback = sa.Column(sa.Boolean, nullable=False, default=False)
    # the threshold for "low confidence" lives in config.yml and may change: keep the minimum
    min_confidence = sa.Column(sa.Float)
    preview = sa.Column(sa.String(255), nullable=False, default="")
    search_text = sa.Column(sa.Text, nullable=False, default="")  # lower-cased redacted texts


class ConversationIntent(Base):
    """The intents a conversation's visitor messages were classified as, with counts."""

    __tablename__ = "conversation_intents"
    sender_id = sa.Column(sa.String(255), primary_key=True)
    intent = sa.Column(sa.String(255), primary_key=True, index=True)
    count = sa.Column(sa.Integer, nullable=False, default=0)
    first_event_id = sa.Column(sa.Integer, nullable=False)  # ties in "top intents" keep first-seen order


class ConversationNote(Base):
    __tablename__ = "conversation_notes"
    id = sa.Column(sa.Integer, primary_key=True)
    sender_id = sa.Column(sa.String(255), nullable=False, index=True)
    author = sa.Column(sa.String(80), nullable=False)
    text = sa.Column(sa.Text, nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class MessageRelabel(Base):
    """A visitor message staff relabelled with the correct intent (one per event)."""

    __tablename__ = "message_relabels"
    id = sa.Column(sa.Integer, primary_key=True)
    event_id = sa.Column(sa.Integer, nullable=False, unique=True)
    sender_id = sa.Column(sa.String(255), nullable=False, index=True)
    text = sa.Column(sa.Text, nullable=False)  # the stored (redacted) message text
    entities = sa.Column(sa.Text, nullable=False, default="[]")  # JSON, offsets into `text`
    predicted_intent = sa.Column(sa.String(255))
    intent = sa.Column(sa.String(255), nullable=False)
    relabelled_by = sa.Column(sa.String(80), nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class AuditLog(Base):
    """Append-only: the database itself refuses UPDATE and DELETE on this table (triggers of
    migration 0003), and the retention purge leaves it alone."""

    __tablename__ = "audit_log"
    id = sa.Column(sa.Integer, primary_key=True)
    at = sa.Column(sa.DateTime, nullable=False, default=utcnow, index=True)
    username = sa.Column(sa.String(80), nullable=False)
    action = sa.Column(sa.String(64), nullable=False, index=True)
    target = sa.Column(sa.String(255), nullable=False, default="")
    detail = sa.Column(sa.Text, nullable=False, default="")
    client = sa.Column(sa.String(64), nullable=False, default="")
