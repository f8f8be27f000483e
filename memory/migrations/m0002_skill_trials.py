"""memory: skill trials (tests before promotion and later uses, with verdicts)

Revision ID: m0002
Revises: m0001
"""
import sqlalchemy as sa
from alembic import op

revision = "m0002"
down_revision = "m0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "memory_skill_trials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(200), nullable=False, index=True),
        sa.Column("entry_id", sa.String(64), nullable=False, index=True),
        sa.Column("entry_version", sa.Integer, nullable=False),
        sa.Column("trial", sa.String(8), nullable=False),
        sa.Column("problem_id", sa.String(200)),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("run_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("memory_skill_trials")
