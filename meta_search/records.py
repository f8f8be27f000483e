"""SQL tables of the meta-search layer: search runs, the archive, fitness and evaluations.

Uniqueness constraints make a resumed run idempotent after kill -9:
- one entry per (run, generation, slot): a generation is never proposed twice;
- one live entry per (run, code_hash): duplicates are kept, but marked `duplicate_of`;
- one evaluation per (entry, split, problem): no problem is scored (or paid for) twice;
- one fitness row per (entry, split).
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Archive statuses: where a candidate stopped in the cascade.
PROPOSED = "proposed"          # written, not yet (fully) run
SMOKE_FAILED = "smoke_failed"  # errors or all-zero on the smoke problems after the debug rounds
MINIBATCH = "minibatch"        # scored on the minibatch, not promoted to full validation
EVALUATED = "evaluated"        # scored on the full validation split
REJECTED = "rejected"          # static check failed, duplicate, or proposal unusable
STATUSES = (PROPOSED, SMOKE_FAILED, MINIBATCH, EVALUATED, REJECTED)
# The origin of a compute-matched baseline `crib search test` adds: in generation 0 but not a
# seed (never run on validation, never a parent).
BASELINE = "baseline"
# The split of the training problems the best seed runs for demonstrations (blocks, --demos).
TRAIN_SPLIT = "train"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class SearchRunRow(Base):
    """One `crib search`: its configuration, where it is, and what it has spent."""

    __tablename__ = "search_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # = runs.id
    domain: Mapped[str] = mapped_column(String(64))
    strategy: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    # running, stopped (budget/interrupt; resumable), done, failed
    status: Mapped[str] = mapped_column(String(16), default="running")
    stop_reason: Mapped[str | None] = mapped_column(Text)
    seeded: Mapped[int] = mapped_column(Integer, default=0)  # 1 once the seed library is in
    next_generation: Mapped[int] = mapped_column(Integer, default=1)  # the generation cursor
    spend: Mapped[dict] = mapped_column(JSON, default=dict)  # by role: calls, tokens, cost
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class ArchiveEntryRow(Base):
    """One agent in a run's archive: a seed, an import or a meta-agent candidate."""

    __tablename__ = "archive_entries"
    __table_args__ = (
        UniqueConstraint("run_id", "generation", "slot", name="uq_archive_generation_slot"),
        Index("uq_archive_live_code", "run_id", "code_hash", unique=True,
              sqlite_where=text("duplicate_of IS NULL"),
              postgresql_where=text("duplicate_of IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    generation: Mapped[int] = mapped_column(Integer)  # 0: seed library / imports
    slot: Mapped[int] = mapped_column(Integer, default=0)
    origin: Mapped[str] = mapped_column(String(16))  # seed, meta, designer, import, baseline
    name: Mapped[str] = mapped_column(String(200))
    thought: Mapped[str] = mapped_column(Text, default="")
    code: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[str] = mapped_column(String(64))
    parents: Mapped[list] = mapped_column(JSON, default=list)  # entry ids
    status: Mapped[str] = mapped_column(String(16), default=PROPOSED)
    stage: Mapped[str] = mapped_column(String(16), default="static")  # last cascade stage reached
    reason: Mapped[str | None] = mapped_column(Text)  # why it stopped where it did
    duplicate_of: Mapped[int | None] = mapped_column(Integer)
    debug_rounds: Mapped[int] = mapped_column(Integer, default=0)
    history: Mapped[list] = mapped_column(JSON, default=list)  # reflections, debug errors
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class FitnessRow(Base):
    """An entry's score on one split: median with its seeded bootstrap interval."""

    __tablename__ = "archive_fitness"
    __table_args__ = (UniqueConstraint("entry_id", "split", name="uq_fitness_entry_split"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("archive_entries.id"), index=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    split: Mapped[str] = mapped_column(String(128))  # minibatch, validation, test, transfer:...
    median: Mapped[float] = mapped_column(Float)
    mean: Mapped[float] = mapped_column(Float)
    ci_low: Mapped[float] = mapped_column(Float)
    ci_high: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    n_resamples: Mapped[int] = mapped_column(Integer)
    cold: Mapped[float | None] = mapped_column(Float)  # memory-aware: first-half accuracy
    warm: Mapped[float | None] = mapped_column(Float)  # second-half accuracy
    errors: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EvaluationRow(Base):
    """One entry on one problem of one split (smoke rounds are splits `smoke0`, `smoke1`...)."""

    __tablename__ = "archive_evaluations"
    __table_args__ = (
        UniqueConstraint("entry_id", "split", "problem_id", name="uq_evaluation_problem"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("archive_entries.id"), index=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    split: Mapped[str] = mapped_column(String(128))
    problem_id: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)  # order within the split
    score: Mapped[float] = mapped_column(Float, default=0.0)
    answer: Mapped[str | None] = mapped_column(Text)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    wall_ms: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
