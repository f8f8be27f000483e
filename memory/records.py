"""SQL tables of the memory layer (their own DeclarativeBase; migrations in memory/migrations).

`memory_entries` holds the current state of every entry; `memory_events` is the append-only
log (one row per change, with the full entry state after it and the scope-wide sequence number
that is the sheet version); `memory_scopes` holds each scope's version for optimistic
concurrency. Counters (used/helped/hurt) move in place and are audited in `memory_outcomes`
rather than versioned: they are facts about attempts, not sheet content, and must not bump the
sheet version on every solve.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON, Boolean, DateTime, Float, Index, Integer, String, Text, UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class ScopeRow(Base):
    __tablename__ = "memory_scopes"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    copied_from: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EntryRow(Base):
    __tablename__ = "memory_entries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    provenance: Mapped[dict] = mapped_column(JSON, default=dict)
    used: Mapped[int] = mapped_column(Integer, default=0)
    helped: Mapped[int] = mapped_column(Integer, default=0)
    hurt: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EventRow(Base):
    __tablename__ = "memory_events"
    __table_args__ = (UniqueConstraint("scope", "seq", name="uq_memory_events_scope_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(200), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    entry_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))
    state: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProblemRow(Base):
    __tablename__ = "memory_problems"
    __table_args__ = (Index("ix_memory_problems_run_problem", "run_id", "problem_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(200), index=True)
    problem_id: Mapped[str | None] = mapped_column(String(200))
    problem: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    score: Mapped[float | None] = mapped_column(Float)
    run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CurationRow(Base):
    """One curation attempt: what the curator proposed, what was applied, what was rejected."""

    __tablename__ = "memory_curations"
    __table_args__ = (Index("ix_memory_curations_run_problem", "run_id", "problem_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(200), index=True)
    run_id: Mapped[str | None] = mapped_column(String(64))
    problem_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # applied, partial, rejected, malformed, noop
    raw: Mapped[str | None] = mapped_column(Text)
    accepted: Mapped[list] = mapped_column(JSON, default=list)
    rejected: Mapped[list] = mapped_column(JSON, default=list)
    version_before: Mapped[int] = mapped_column(Integer, default=0)
    version_after: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OutcomeRow(Base):
    """Audit of counter moves: which rendered entries an attempt saw and its verdict."""

    __tablename__ = "memory_outcomes"
    __table_args__ = (Index("ix_memory_outcomes_run_attempt", "run_id", "attempt_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(200), index=True)
    entry_ids: Mapped[list] = mapped_column(JSON)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    run_id: Mapped[str | None] = mapped_column(String(64))
    attempt_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SkillTrialRow(Base):
    """One run of a skill on one problem: a test before promotion (`test`) or a later call by
    an attempt (`use`), with the checker's verdict. A skill's record and standing come from
    here (memory/skills.py); its code and status changes are ordinary memory events."""

    __tablename__ = "memory_skill_trials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(200), index=True)
    entry_id: Mapped[str] = mapped_column(String(64), index=True)
    entry_version: Mapped[int] = mapped_column(Integer)
    trial: Mapped[str] = mapped_column(String(8))  # test, use
    problem_id: Mapped[str | None] = mapped_column(String(200))
    passed: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str | None] = mapped_column(Text)  # the error or the checker's feedback
    run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
