"""What the viewer shows of a memory scope: entries and skills with their records, the event
timeline, and the diff between two versions (through the memory layer's own store)."""
from __future__ import annotations

from sqlalchemy import Engine, select


def scopes(engine: Engine) -> list[dict]:
    from crib.memory.store import MemoryStore

    return MemoryStore(engine).scopes()


def scope(engine: Engine, name: str, v1: int | None = None, v2: int | None = None) -> dict | None:
    from crib.memory.records import SkillTrialRow
    from crib.memory.store import MemoryStore

    store = MemoryStore(engine)  # no vector index: reading only
    version = store.version(name)
    entries = store.entries(name)
    if not version and not entries:
        return None
    with engine.connect() as conn:
        trials = conn.execute(select(SkillTrialRow).where(SkillTrialRow.scope == name)
                              .order_by(SkillTrialRow.id)).all()
    by_entry: dict[str, list] = {}
    for t in trials:
        by_entry.setdefault(t.entry_id, []).append(
            {"trial": t.trial, "version": t.entry_version, "problem_id": t.problem_id,
             "passed": t.passed, "detail": t.detail, "run_id": t.run_id})
    v2 = version if v2 is None else max(0, min(v2, version))
    v1 = max(0, v2 - 1) if v1 is None else max(0, min(v1, version))
    return {"scope": name, "version": version, "entries": entries, "trials": by_entry,
            "history": store.history(name), "curations": store.curations(name, limit=100),
            "v1": v1, "v2": v2, "diff": store.diff(name, v1, v2)}
