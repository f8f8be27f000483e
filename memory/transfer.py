"""Export and import of a scope's memory: JSON (round-trips through `import`) and Markdown
(for reading)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from crib.memory.models import MemoryEntry
from crib.memory.store import MemoryStore

FORMAT = "crib-memory/1"


def export_scope(store: MemoryStore, scope: str,
                 statuses: tuple[str, ...] = ("active", "quarantined", "archived"),
                 problems: bool = True) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "scope": scope,
        "version": store.version(scope),
        "exported_at": datetime.now(timezone.utc).isoformat(),
        "entries": [e.model_dump(mode="json") for e in store.entries(scope, status=statuses)],
        "problems": [p.model_dump(mode="json") for p in store.problems(scope)] if problems else [],
    }


def import_scope(store: MemoryStore, scope: str, data: dict[str, Any]) -> dict[str, int]:
    """Load an export into `scope` (entries as new events; past problems appended)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a Crib memory export (expected \"format\": \"{FORMAT}\")")
    entries = []
    for i, raw in enumerate(data.get("entries", [])):
        try:
            entries.append(MemoryEntry.model_validate({**raw, "scope": scope}))
        except Exception as exc:
            which = repr(raw.get('id', '?') if isinstance(raw, dict) else raw)
            raise ValueError(f"entry {i} ({which}): {exc}") from exc
    written = store.put_entries(scope, entries, action="import",
                                reason=f"imported from scope {data.get('scope')}")
    n_problems = 0
    for p in data.get("problems", []):
        store.record_problem(scope, p["problem"], p["answer"], p.get("passed"),
                             problem_id=p.get("problem_id"), run_id=p.get("run_id"),
                             score=p.get("score"))
        n_problems += 1
    return {"entries": len(written), "unchanged": len(entries) - len(written),
            "problems": n_problems}


def to_markdown(scope: str, version: int, entries: list[MemoryEntry]) -> str:
    lines = [f"# Crib memory: scope `{scope}` (version {version})", ""]
    for status in ("active", "quarantined", "archived"):
        group = [e for e in entries if e.status == status]
        if not group:
            continue
        lines += [f"## {status.capitalize()} ({len(group)})", ""]
        for e in sorted(group, key=lambda e: (not e.pinned, e.id)):
            pin = " 📌" if e.pinned else ""
            lines += [f"### {e.title}{pin}",
                      f"`{e.id}` · {e.kind} · used {e.used}, helped {e.helped}, hurt {e.hurt} "
                      f"· v{e.version}"
                      + (f" · tags: {', '.join(e.tags)}" if e.tags else ""), "", e.body.strip(), ""]
    return "\n".join(lines)
