"""memory: indexes for the lookups that keep a resumed run from counting twice (an attempt's
outcome, a run's past problem and its curation, by run)

Revision ID: m0003
Revises: m0002
"""
from alembic import op

revision = "m0003"
down_revision = "m0002"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_memory_outcomes_run_attempt", "memory_outcomes", ["run_id", "attempt_id"]),
    ("ix_memory_problems_run_problem", "memory_problems", ["run_id", "problem_id"]),
    ("ix_memory_curations_run_problem", "memory_curations", ["run_id", "problem_id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
