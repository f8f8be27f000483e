"""agents: transcripts (events of attempts, texts stored once by hash)

Revision ID: a0004
Revises: a0003
"""
import sqlalchemy as sa
from alembic import op

revision = "a0004"
down_revision = "a0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transcript_texts",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("chars", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "transcript_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64)),
        sa.Column("attempt_id", sa.String(128)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_transcript_events_run_id", "transcript_events", ["run_id"])
    op.create_index("ix_transcript_events_attempt_id", "transcript_events", ["attempt_id"])
    op.create_index("ix_transcript_events_created_at", "transcript_events", ["created_at"])


def downgrade() -> None:
    op.drop_table("transcript_events")
    op.drop_table("transcript_texts")
