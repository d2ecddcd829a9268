"""Conversation summaries and intents for the staff list; an index on tags.

The staff list used to read every event of every conversation on each request. It now
filters and sorts on one summary row per conversation (kept by the tracker store on each
save) and on the intents each conversation saw. This revision creates both tables and
folds the events already stored into them, so existing conversations are listed too.

Revision ID: 0002_conversation_summaries
Revises: 0001_initial
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_conversation_summaries"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    summaries = op.create_table(
        "conversation_summaries",
        sa.Column("sender_id", sa.String(255), primary_key=True),
        sa.Column("first_event_id", sa.Integer),
        sa.Column("last_event_id", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", sa.Float),
        sa.Column("last_at", sa.Float),
        sa.Column("user_messages", sa.Integer, nullable=False, server_default="0"),
        sa.Column("bot_messages", sa.Integer, nullable=False, server_default="0"),
        sa.Column("crisis_auto", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("fallback", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("min_confidence", sa.Float),
        sa.Column("preview", sa.String(255), nullable=False, server_default=""),
        sa.Column("search_text", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_conversation_summaries_started_at", "conversation_summaries", ["started_at"])
    op.create_index("ix_conversation_summaries_last_at", "conversation_summaries", ["last_at"])
    intents = op.create_table(
        "conversation_intents",
        sa.Column("sender_id", sa.String(255), primary_key=True),
        sa.Column("intent", sa.String(255), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("first_event_id", sa.Integer, nullable=False),
    )
    op.create_index("ix_conversation_intents_intent", "conversation_intents", ["intent"])
    op.create_index("ix_conversation_tags_tag", "conversation_tags", ["tag"])

    from bot.transcripts.summary import backfill

    backfill(op.get_bind(), summaries, intents)


def downgrade() -> None:
    op.drop_index("ix_conversation_tags_tag", table_name="conversation_tags")
    op.drop_table("conversation_intents")
    op.drop_table("conversation_summaries")
