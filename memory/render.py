"""Rendering the sheet into a prompt: deterministic, within a token budget.

Order: pinned entries first, then by score = usefulness + relevance, ties broken by id.
usefulness = (helped - hurt) / (helped + hurt + 2), so entries with little evidence sit near 0
(for a skill that has been called, the same over its passed and failed uses instead);
relevance = cosine similarity of the entry to the current problem (rounded so that float noise
cannot reorder entries). Entries are taken in that order while they fit; one that does not fit is
skipped and smaller ones after it may still go in.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from crib.memory.models import MemoryEntry
from crib.memory.skills import SkillRecord, skill_block
from crib.memory.tokens import TokenCounter

SHEET_HEADER = "## Cheatsheet (curated from earlier problems; ids in brackets)\n"


@dataclass
class RenderedSheet:
    text: str
    entry_ids: list[str] = field(default_factory=list)
    tokens: int = 0
    version: int = 0
    omitted: int = 0  # active entries that did not fit the budget


def rank(entries: list[MemoryEntry], relevance: dict[str, float] | None = None,
         records: dict[str, SkillRecord] | None = None) -> list[MemoryEntry]:
    relevance, records = relevance or {}, records or {}

    def key(e: MemoryEntry):
        score = round(usefulness(e, records.get(e.id)) + relevance.get(e.id, 0.0), 6)
        return (not e.pinned, -score, e.id)

    return sorted(entries, key=key)


def usefulness(e: MemoryEntry, record: SkillRecord | None = None) -> float:
    """The entry's counters, or for a skill with uses its use record: a skill's counters move
    whenever it is in a prompt, and the 1.5B model, ignoring a skill that solved every problem
    it was called on, left it at 4 helped to 17 hurt, below a skill that never passed."""
    if e.kind == "skill" and record is not None and record.uses:
        return record.usefulness
    return e.usefulness


def format_entry(e: MemoryEntry, records: dict[str, SkillRecord] | None = None) -> str:
    if e.kind == "skill":
        return skill_block(e, (records or {}).get(e.id))
    pin = " pinned" if e.pinned else ""
    tags = f" tags: {', '.join(e.tags)}" if e.tags else ""
    return f"### [{e.id}] {e.title} ({e.kind}{pin}){tags}\n{e.body.strip()}\n"


def render_sheet(entries: list[MemoryEntry], relevance: dict[str, float] | None, token_budget: int,
                 count_tokens: TokenCounter, version: int = 0,
                 records: dict[str, SkillRecord] | None = None) -> RenderedSheet:
    live = [e for e in entries if e.status == "active"]
    if not live:
        return RenderedSheet(text="", version=version)
    used = count_tokens(SHEET_HEADER)
    parts: list[str] = [SHEET_HEADER]
    ids: list[str] = []
    for e in rank(live, relevance, records):
        block = format_entry(e, records)
        cost = count_tokens(block)
        if used + cost > token_budget:
            continue
        parts.append(block)
        ids.append(e.id)
        used += cost
    if not ids:
        return RenderedSheet(text="", version=version, omitted=len(live))
    return RenderedSheet(text="\n".join(parts), entry_ids=ids, tokens=used, version=version,
                         omitted=len(live) - len(ids))
