"""Figures about one scope's memory for `crib memory stats`."""
from __future__ import annotations

from typing import Any

from crib.memory.render import render_sheet
from crib.memory.store import MemoryStore


def scope_stats(store: MemoryStore, scope: str, top: int = 5) -> dict[str, Any]:
    """Entries by status, pinned, tokens of the whole active sheet rendered, past problems,
    curation outcomes by status, and the `top` most helpful active entries."""
    entries = store.entries(scope)
    active = [e for e in entries if e.status == "active"]
    curations: dict[str, int] = {}
    for c in store.curations(scope, limit=10**9):
        curations[c["status"]] = curations.get(c["status"], 0) + 1
    helpful = sorted(active, key=lambda e: (-(e.helped - e.hurt), -e.helped, e.id))[:top]
    return {
        "scope": scope,
        "version": store.version(scope),
        "entries": {s: sum(1 for e in entries if e.status == s)
                    for s in ("active", "quarantined", "archived")},
        "pinned": sum(e.pinned for e in active),
        "tokens_active": render_sheet(active, None, 10**9, store.count_tokens).tokens,
        "problems": len(store.problems(scope)),
        "curations": dict(sorted(curations.items())),
        "most_helpful": [{"id": e.id, "title": e.title, "used": e.used, "helped": e.helped,
                          "hurt": e.hurt} for e in helpful],
        "scopes": store.scopes(),
    }
