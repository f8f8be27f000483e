"""agents: llm_calls.tries, the requests a call sent (retries included; 0 when cached)

Rows written before this revision did not count their retries: they get 1 (0 when cached),
so a run's `requests` is a lower bound for calls made before the upgrade.

Revision ID: a0005
Revises: a0004
"""
import sqlalchemy as sa
from alembic import op

revision = "a0005"
down_revision = "a0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("llm_calls", sa.Column("tries", sa.Integer, nullable=False,
                                         server_default="1"))
    calls = sa.table("llm_calls", sa.column("tries", sa.Integer),
                     sa.column("cached", sa.Boolean))
    op.execute(calls.update().where(calls.c.cached.is_(True)).values(tries=0))


def downgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch:
        batch.drop_column("tries")
