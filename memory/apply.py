"""Turning validated curation operations into new entry states (pure; the store writes them).

Gating: when the answer an insight came from failed its verifier or could not be verified,
nothing it taught reaches the prompt. Adds become quarantined entries; updates and merges become
quarantined *proposals* (new entries that name the ids they would change), so the insight is
kept for review without touching the active sheet; archives are rejected.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from crib.memory.models import MemoryEntry, Provenance
from crib.memory.ops import AddOp, ArchiveOp, MergeOp, NoopOp, Rejection, UpdateOp, text_key


def new_entry_id() -> str:
    return "m-" + secrets.token_hex(5)


@dataclass
class Change:
    action: str
    entry: MemoryEntry  # the full state after the change
    new: bool = False
    reason: str | None = None


def plan_curation(
    scope: str, ops: list[Any], entries: dict[str, MemoryEntry], provenance: Provenance,
    passed: bool | None, gating: bool,
) -> tuple[list[Change], list[dict], list[Rejection]]:
    gated = gating and passed is not True
    prov = provenance.model_copy(update={"verdict": passed, "source": "curator"})
    status = "quarantined" if gated else "active"
    why = "verdict failed" if passed is False else "verdict unknown"
    changes: list[Change] = []
    accepted: list[dict] = []
    rejected: list[Rejection] = []

    # Gated updates and merges become new proposal entries: one per distinct text, not per attempt.
    known = {text_key(e.title, e.body) for e in entries.values() if e.status != "archived"}

    def duplicate(op: Any, title: str, body: str) -> bool:
        key = text_key(title, body)
        if key in known:
            rejected.append(Rejection(op=op.model_dump(),
                                      reason="duplicate: this text is already in the sheet"))
            return True
        known.add(key)
        return False

    def create(kind, title, body, tags, note=None, **extra) -> MemoryEntry:
        p = prov.model_copy(update={"note": note, **extra})
        return MemoryEntry(id=new_entry_id(), scope=scope, kind=kind, title=title, body=body,
                           tags=list(tags or []), provenance=p, status=status)

    for op in ops:
        if isinstance(op, NoopOp):
            accepted.append(op.model_dump())
            continue
        if isinstance(op, AddOp):
            e = create(op.kind, op.title, op.body, op.tags)
            changes.append(Change("add", e, new=True,
                                  reason=f"quarantined: {why}" if gated else None))
        elif isinstance(op, UpdateOp):
            old = entries[op.id]
            fields = {k: v for k, v in (("body", op.body), ("title", op.title), ("kind", op.kind),
                                        ("tags", op.tags)) if v is not None}
            if gated:
                title = op.title if op.title is not None else old.title
                body = op.body if op.body is not None else old.body
                if duplicate(op, title, body):
                    continue
                e = create(op.kind if op.kind is not None else old.kind, title, body,
                           op.tags if op.tags is not None else old.tags,
                           note=f"proposed update of {op.id}; quarantined: {why}")
                changes.append(Change("add", e, new=True, reason=e.provenance.note))
            else:
                update = {**fields, "version": old.version + 1}
                changes.append(Change("update", old.model_copy(update=update)))
        elif isinstance(op, MergeOp):
            sources = [entries[i] for i in op.ids]
            kind = op.kind or sources[0].kind
            if gated:
                if duplicate(op, op.title, op.body):
                    continue
                e = create(kind, op.title, op.body, op.tags,
                           note=f"proposed merge of {', '.join(op.ids)}; quarantined: {why}")
                changes.append(Change("add", e, new=True, reason=e.provenance.note))
            else:
                merged = create(kind, op.title, op.body, op.tags, merged_from=list(op.ids))
                e = merged.model_copy(update={
                    "used": sum(s.used for s in sources), "helped": sum(s.helped for s in sources),
                    "hurt": sum(s.hurt for s in sources), "pinned": any(s.pinned for s in sources)})
                changes.append(Change("merge", e, new=True,
                                      reason=f"merged from {', '.join(op.ids)}"))
                for s in sources:
                    archived = s.model_copy(update={"status": "archived", "version": s.version + 1})
                    changes.append(Change("archive", archived, reason=f"merged into {e.id}"))
        elif isinstance(op, ArchiveOp):
            if gated:
                rejected.append(Rejection(
                    op=op.model_dump(),
                    reason=f"gated: archive proposed after an answer whose {why}"))
                continue
            old = entries[op.id]
            archived = old.model_copy(update={"status": "archived", "version": old.version + 1})
            changes.append(Change("archive", archived, reason=op.reason or "archived by curator"))
        accepted.append(op.model_dump())
    return changes, accepted, rejected
