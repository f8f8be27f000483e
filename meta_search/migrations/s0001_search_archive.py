"""meta_search: search runs, archive entries, fitness, per-problem evaluations

Revision ID: s0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "s0001"
down_revision = None
branch_labels = ("meta_search",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "search_runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("domain", sa.String(64), nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stop_reason", sa.Text),
        sa.Column("seeded", sa.Integer, nullable=False),
        sa.Column("next_generation", sa.Integer, nullable=False),
        sa.Column("spend", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "archive_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False, index=True),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("thought", sa.Text, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("parents", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("duplicate_of", sa.Integer),
        sa.Column("debug_rounds", sa.Integer, nullable=False),
        sa.Column("history", sa.JSON, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("run_id", "generation", "slot", name="uq_archive_generation_slot"),
    )
    op.create_index("uq_archive_live_code", "archive_entries", ["run_id", "code_hash"],
                    unique=True, sqlite_where=sa.text("duplicate_of IS NULL"),
                    postgresql_where=sa.text("duplicate_of IS NULL"))
    op.create_table(
        "archive_fitness",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.Integer, sa.ForeignKey("archive_entries.id"), nullable=False,
                  index=True),
        sa.Column("run_id", sa.String(64), nullable=False, index=True),
        sa.Column("split", sa.String(128), nullable=False),
        sa.Column("median", sa.Float, nullable=False),
        sa.Column("mean", sa.Float, nullable=False),
        sa.Column("ci_low", sa.Float, nullable=False),
        sa.Column("ci_high", sa.Float, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("n_resamples", sa.Integer, nullable=False),
        sa.Column("cold", sa.Float),
        sa.Column("warm", sa.Float),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("entry_id", "split", name="uq_fitness_entry_split"),
    )
    op.create_table(
        "archive_evaluations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.Integer, sa.ForeignKey("archive_entries.id"), nullable=False,
                  index=True),
        sa.Column("run_id", sa.String(64), nullable=False, index=True),
        sa.Column("split", sa.String(128), nullable=False),
        sa.Column("problem_id", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("answer", sa.Text),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("tokens_in", sa.Integer, nullable=False),
        sa.Column("tokens_out", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("wall_ms", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("entry_id", "split", "problem_id", name="uq_evaluation_problem"),
    )


def downgrade() -> None:
    op.drop_table("archive_evaluations")
    op.drop_table("archive_fitness")
    op.drop_index("uq_archive_live_code", table_name="archive_entries")
    op.drop_table("archive_entries")
    op.drop_table("search_runs")
