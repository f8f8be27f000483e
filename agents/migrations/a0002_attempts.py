"""agents: attempts (one run of one agent on one problem)

Revision ID: a0002
Revises: a0001
"""
import sqlalchemy as sa
from alembic import op

revision = "a0002"
down_revision = "a0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attempts",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("run_id", sa.String(64), index=True),
        sa.Column("problem_id", sa.String(256), nullable=False, index=True),
        sa.Column("agent_name", sa.String(200), nullable=False),
        sa.Column("agent_hash", sa.String(64), nullable=False, index=True),
        sa.Column("policy", sa.String(16), nullable=False),
        sa.Column("attempt_index", sa.Integer, nullable=False),
        sa.Column("answer", sa.JSON),
        sa.Column("raw_output", sa.Text),
        sa.Column("passed", sa.Boolean),
        sa.Column("verdicts", sa.JSON, nullable=False),
        sa.Column("feedback_in", sa.Text),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("cached_calls", sa.Integer, nullable=False),
        sa.Column("tokens_in", sa.Integer, nullable=False),
        sa.Column("tokens_out", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("wall_ms", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("cheatsheet_version", sa.String(64)),
        sa.Column("memory_entry_ids", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("attempts")
