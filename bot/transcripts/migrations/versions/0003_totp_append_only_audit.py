"""TOTP second factor for staff accounts; the audit log becomes append-only.

`staff_users` gains `totp_secret` and `totp_last_step`. The secret has to be stored in a
form that yields the secret again (a TOTP code is computed from it, so it cannot be hashed
like a password). It is encrypted (Fernet) with a key derived from the session secret
(`BOT_SECRET_KEY` or `BOT_SECRET_FILE`), which is kept outside the database: a copy of
the database alone (a backup, a dump, a stolen file) does not give anyone the second
factor. `totp_last_step` is the time step of the last code accepted, so a code that was
seen once (shoulder-surfed, replayed from a proxy log) is refused for the rest of its
window.

The audit log is append-only in the database itself: triggers refuse UPDATE and DELETE
(and TRUNCATE on PostgreSQL), whoever connects. Nothing in the product needs to change or
delete an entry: the retention purge (`bot.transcripts.purge`) deletes conversations and
what is derived from them, never audit entries, which name conversation ids and staff,
never what a visitor wrote. Pruning the log is left to a deliberate act by the database
owner (dropping the triggers), not to any code path of the product.

Revision ID: 0003_totp_append_only_audit
Revises: 0002_conversation_summaries
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_totp_append_only_audit"
down_revision = "0002_conversation_summaries"
branch_labels = None
depends_on = None

REFUSAL = "audit_log is append-only"

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
    f"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
]

POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'insufficient_privilege';
    END
    $$""",
    "CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
]


def upgrade() -> None:
    op.add_column("staff_users", sa.Column("totp_secret", sa.String(255)))
    op.add_column("staff_users", sa.Column("totp_last_step", sa.BigInteger))
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        statements = SQLITE_TRIGGERS
    elif dialect == "postgresql":
        statements = POSTGRES_TRIGGERS
    else:
        # refuse rather than migrate to a database where the guarantee silently does not hold
        raise NotImplementedError(
            f"append-only audit log triggers are written for SQLite and PostgreSQL, not {dialect}"
        )
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update_or_delete ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_secret")
