"""Pydantic records of the memory layer, as other layers and the CLI see them."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Mapping, Protocol, Union

from pydantic import BaseModel, Field

Kind = Literal["strategy", "code", "pitfall", "fact", "skill"]
Status = Literal["active", "quarantined", "archived"]
KINDS: tuple[str, ...] = ("strategy", "code", "pitfall", "fact", "skill")
# Kinds the curator may write: a skill comes only from code Crib ran and tested (memory/skills.py).
CURATOR_KINDS: tuple[str, ...] = ("strategy", "code", "pitfall", "fact")
STATUSES: tuple[str, ...] = ("active", "quarantined", "archived")
# The fields an event restores on rollback; counters are outcome statistics, not content.
CONTENT_FIELDS: tuple[str, ...] = ("kind", "title", "body", "tags", "status", "pinned")


class Provenance(BaseModel):
    """Where an entry came from: the problem, run and model, and the verdict of that answer."""

    problem_id: str | None = None
    run_id: str | None = None
    model: str | None = None
    verdict: bool | None = None  # passed: True/False, None = unknown / not verified
    source: str = "curator"  # curator, user, import, merge, copy
    merged_from: list[str] = Field(default_factory=list)
    note: str | None = None


class MemoryEntry(BaseModel):
    id: str
    scope: str
    kind: Kind = "strategy"
    title: str
    body: str
    tags: list[str] = Field(default_factory=list)
    provenance: Provenance = Field(default_factory=Provenance)
    used: int = 0
    helped: int = 0
    hurt: int = 0
    status: Status = "active"
    pinned: bool = False
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def content(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in CONTENT_FIELDS}

    @property
    def usefulness(self) -> float:
        """(helped - hurt) smoothed towards 0 for entries with little evidence, in (-1, 1)."""
        return (self.helped - self.hurt) / (self.helped + self.hurt + 2)


class MemoryEvent(BaseModel):
    seq: int  # the sheet version this change produced
    scope: str
    entry_id: str
    action: str  # add, update, merge, archive, edit, pin, unpin, rollback, import, copy
    state: dict[str, Any]  # the full entry after the change
    reason: str | None = None
    run_id: str | None = None
    created_at: datetime | None = None


class PastProblem(BaseModel):
    id: int
    scope: str
    problem_id: str | None = None
    problem: str
    answer: str
    passed: bool | None = None
    score: float | None = None
    run_id: str | None = None


class SheetDiff(BaseModel):
    v1: int
    v2: int
    added: list[dict[str, Any]] = Field(default_factory=list)  # entries present only at v2
    removed: list[dict[str, Any]] = Field(default_factory=list)  # present only at v1
    changed: list[dict[str, Any]] = Field(default_factory=list)  # {id, fields: {f: [old, new]}}


class HasPassed(Protocol):
    """A verdict object as memory reads it: the agents layer's `Verdict`, which memory cannot
    import (the layers import one way)."""

    @property
    def passed(self) -> bool | None: ...


# A verdict: a bool, None (unknown), a mapping with "passed", or an object with `passed`.
VerdictLike = Union[bool, None, Mapping[str, Any], HasPassed]


def verdict_passed(verdict: VerdictLike) -> bool | None:
    """Normalise a verdict (bool, None, a mapping, or any object with a `passed` attribute,
    such as the agents layer's Verdict) to True / False / None without importing it."""
    if verdict is None or isinstance(verdict, bool):
        return verdict
    if isinstance(verdict, Mapping):
        return verdict.get("passed")
    return getattr(verdict, "passed", None)


class CurationResult(BaseModel):
    """What one curation did: applied operations, rejected ones with reasons, versions."""

    status: str  # applied, partial, rejected, malformed, noop
    accepted: list[dict[str, Any]] = Field(default_factory=list)
    rejected: list[dict[str, Any]] = Field(default_factory=list)  # {"op": ..., "reason": ...}
    version_before: int = 0
    version_after: int = 0
    changed_ids: list[str] = Field(default_factory=list)
