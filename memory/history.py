"""The sheet's past: reading the append-only event log, the sheet at a version, diffs, and the
changes a rollback makes (applied as new events; history is never deleted)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crib.memory.models import CONTENT_FIELDS, MemoryEntry, MemoryEvent, SheetDiff
from crib.memory.records import EventRow


def read_events(engine: Engine, scope: str, entry_id: str | None = None,
                upto: int | None = None) -> list[MemoryEvent]:
    q = select(EventRow).where(EventRow.scope == scope)
    if entry_id is not None:
        q = q.where(EventRow.entry_id == entry_id)
    if upto is not None:
        q = q.where(EventRow.seq <= upto)
    with Session(engine) as s:
        rows = s.scalars(q.order_by(EventRow.seq)).all()
        return [MemoryEvent(seq=r.seq, scope=r.scope, entry_id=r.entry_id, action=r.action,
                            state=r.state, reason=r.reason, run_id=r.run_id,
                            created_at=r.created_at) for r in rows]


def state_at(events: list[MemoryEvent], version: int) -> dict[str, dict[str, Any]]:
    """Each entry's full state as of sheet version `version` (events must be in seq order)."""
    states: dict[str, dict[str, Any]] = {}
    for ev in events:
        if ev.seq > version:
            break
        states[ev.entry_id] = ev.state
    return states


def diff_states(old: dict[str, dict], new: dict[str, dict], v1: int, v2: int) -> SheetDiff:
    """What differs between two sheet states. Archived entries count as absent, so an archive
    shows as a removal and a restore as an addition."""
    def live(states: dict[str, dict]) -> dict[str, dict]:
        return {k: v for k, v in states.items() if v.get("status") != "archived"}

    a, b = live(old), live(new)
    out = SheetDiff(v1=v1, v2=v2)
    for ident in sorted(b.keys() - a.keys()):
        out.added.append(b[ident])
    for ident in sorted(a.keys() - b.keys()):
        out.removed.append(a[ident])
    for ident in sorted(a.keys() & b.keys()):
        fields = {f: [a[ident].get(f), b[ident].get(f)] for f in CONTENT_FIELDS
                  if a[ident].get(f) != b[ident].get(f)}
        if fields:
            out.changed.append({"id": ident, "title": b[ident].get("title"), "fields": fields})
    return out


def rollback_targets(current: dict[str, MemoryEntry], past: dict[str, dict]) -> list[MemoryEntry]:
    """New states that bring `current` back to `past` in content. Entries that did not exist
    then are archived; counters stay as they are (they record real outcomes)."""
    targets: list[MemoryEntry] = []
    for ident in sorted(current):
        entry = current[ident]
        if ident in past:
            wanted = {f: past[ident][f] for f in CONTENT_FIELDS if f in past[ident]}
        else:
            wanted = {"status": "archived"}
        if any(getattr(entry, f) != v for f, v in wanted.items()):
            targets.append(entry.model_copy(update=wanted))
    return targets
