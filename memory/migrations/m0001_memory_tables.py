"""memory: scopes, entries, event log, past problems, curations, outcomes

Revision ID: m0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "m0001"
down_revision = None
branch_labels = ("memory",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "memory_scopes",
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("copied_from", sa.String(200)),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "memory_entries",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(200), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("provenance", sa.JSON, nullable=False),
        sa.Column("used", sa.Integer, nullable=False),
        sa.Column("helped", sa.Integer, nullable=False),
        sa.Column("hurt", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pinned", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "memory_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(200), nullable=False, index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False, index=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("run_id", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("scope", "seq", name="uq_memory_events_scope_seq"),
    )
    op.create_table(
        "memory_problems",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(200), nullable=False, index=True),
        sa.Column("problem_id", sa.String(200)),
        sa.Column("problem", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("passed", sa.Boolean),
        sa.Column("score", sa.Float),
        sa.Column("run_id", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "memory_curations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(200), nullable=False, index=True),
        sa.Column("run_id", sa.String(64)),
        sa.Column("problem_id", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("raw", sa.Text),
        sa.Column("accepted", sa.JSON, nullable=False),
        sa.Column("rejected", sa.JSON, nullable=False),
        sa.Column("version_before", sa.Integer, nullable=False),
        sa.Column("version_after", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "memory_outcomes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(200), nullable=False, index=True),
        sa.Column("entry_ids", sa.JSON, nullable=False),
        sa.Column("passed", sa.Boolean),
        sa.Column("run_id", sa.String(64)),
        sa.Column("attempt_id", sa.String(128)),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("memory_outcomes", "memory_curations", "memory_problems", "memory_events",
                  "memory_entries", "memory_scopes"):
        op.drop_table(table)
