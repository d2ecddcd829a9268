"""Staff users, sessions, login attempts, review state, tags, notes, relabels, audit log.

Also creates Rasa's `events` table (same schema as Rasa 3.6's SQLTrackerStore) when it
does not exist yet, so the console works before Rasa has ever started.

Revision ID: 0001_initial
Revises:
Create Date: 2024-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("events"):
        op.create_table(
            "events",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("sender_id", sa.String(255), nullable=False),
            sa.Column("type_name", sa.String(255), nullable=False),
            sa.Column("timestamp", sa.Float),
            sa.Column("intent_name", sa.String(255)),
            sa.Column("action_name", sa.String(255)),
            sa.Column("data", sa.Text),
        )
        op.create_index("ix_events_sender_id", "events", ["sender_id"])

    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(80), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_login_at", sa.DateTime),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_seen_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(80), nullable=False),
        sa.Column("client", sa.String(64), nullable=False, server_default=""),
        sa.Column("success", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_login_attempts_username", "login_attempts", ["username"])
    op.create_index("ix_login_attempts_at", "login_attempts", ["at"])
    op.create_table(
        "conversation_reviews",
        sa.Column("sender_id", sa.String(255), primary_key=True),
        sa.Column("reviewed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("reviewed_by", sa.String(80)),
        sa.Column("reviewed_at", sa.DateTime),
        sa.Column("crisis_flag", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "conversation_tags",
        sa.Column("sender_id", sa.String(255), primary_key=True),
        sa.Column("tag", sa.String(64), primary_key=True),
        sa.Column("added_by", sa.String(80)),
        sa.Column("added_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "conversation_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("author", sa.String(80), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_conversation_notes_sender_id", "conversation_notes", ["sender_id"])
    op.create_table(
        "message_relabels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.Integer, nullable=False, unique=True),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("entities", sa.Text, nullable=False, server_default="[]"),
        sa.Column("predicted_intent", sa.String(255)),
        sa.Column("intent", sa.String(255), nullable=False),
        sa.Column("relabelled_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_message_relabels_sender_id", "message_relabels", ["sender_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("username", sa.String(80), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=False, server_default=""),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("client", sa.String(64), nullable=False, server_default=""),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])


def downgrade() -> None:
    for table in (
        "audit_log",
        "message_relabels",
        "conversation_notes",
        "conversation_tags",
        "conversation_reviews",
        "login_attempts",
        "staff_sessions",
        "staff_users",
    ):
        op.drop_table(table)
