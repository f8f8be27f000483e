"""What the viewer shows of a search run: leaderboard, lineage, progress, diffs, rejections."""
from __future__ import annotations

import difflib
from typing import Any

from sqlalchemy import Engine, select

from crib.agents.records import AttemptRow

SPLITS = ("validation", "test")


def search_run(engine: Engine, run_id: str) -> dict | None:
    from crib.meta_search.archive import Archive

    archive = Archive(engine, run_id)
    row = archive.run()
    if row is None:
        return None
    entries = archive.entries()
    board = sorted((e for e in entries if "validation" in e.fitness),
                   key=lambda e: (-e.fitness["validation"].median,
                                  -e.fitness["validation"].ci_low, e.id))
    rejected = [e for e in entries if e.status in ("rejected", "smoke_failed")
                or e.duplicate_of is not None]
    return {"id": run_id, "domain": row.domain, "strategy": row.strategy, "status": row.status,
            "stop_reason": row.stop_reason, "config": row.config or {},
            "spend": row.spend or {}, "entries": entries, "leaderboard": board,
            "rejected": rejected, "lineage": lineage(entries)}


def lineage(entries: list) -> list[dict]:
    """The archive as a tree, depth first from the roots (entries without a known parent):
    each row is an entry with its depth, so a template can indent it."""
    by_id = {e.id: e for e in entries}
    children: dict[int | None, list] = {}
    for e in entries:
        parent = next((p for p in e.parents if p in by_id), None)
        children.setdefault(parent, []).append(e)
    rows: list[dict] = []
    seen: set[int] = set()

    def walk(parent: int | None, depth: int) -> None:
        for e in children.get(parent, []):
            if e.id in seen:
                continue
            seen.add(e.id)
            rows.append({"entry": e, "depth": depth})
            walk(e.id, depth + 1)

    walk(None, 0)
    rows += [{"entry": e, "depth": 0} for e in entries if e.id not in seen]  # in a cycle
    return rows


def by_generation(entries: list, spend_history: list[dict]) -> list[dict]:
    """Per generation: the best validation median so far and the cumulative spend."""
    best, points = None, []
    spent = {h.get("generation"): h for h in spend_history}
    for g in sorted({e.generation for e in entries}):
        scores = [e.fitness["validation"].median for e in entries
                  if e.generation == g and "validation" in e.fitness]
        if scores:
            best = max(scores) if best is None else max(best, max(scores))
        h = spent.get(g, {})
        points.append({"generation": g, "best": best, "cost_usd": h.get("cost_usd"),
                       "tokens": h.get("tokens")})
    return points


def code_diff(parent_code: str, code: str, parent_name: str, name: str) -> list[tuple[str, str]]:
    """A unified diff as (css class, line) pairs."""
    lines = difflib.unified_diff(parent_code.splitlines(), code.splitlines(),
                                 fromfile=parent_name, tofile=name, lineterm="")
    out = []
    for line in lines:
        kind = ("meta" if line.startswith(("---", "+++", "@@")) else "add" if line.startswith("+")
                else "del" if line.startswith("-") else "same")
        out.append((kind, line))
    return out


def evaluations(engine: Engine, entry: Any, policy: str) -> list[dict]:
    """An entry's evaluations, each with its attempts (linked by the attempt id scheme)."""
    from crib.agents.attempts import attempt_id
    from crib.agents.library import code_hash
    from crib.meta_search.records import EvaluationRow

    digest = code_hash(entry.code)
    with engine.connect() as conn:
        rows = conn.execute(select(EvaluationRow).where(EvaluationRow.entry_id == entry.id)
                            .order_by(EvaluationRow.split, EvaluationRow.position)).all()
        out = []
        for r in rows:
            prefix = attempt_id(entry.run_id, r.problem_id, digest, policy, 0).rsplit(":", 1)[0]
            found = conn.execute(select(AttemptRow.id, AttemptRow.attempt_index)
                                 .where(AttemptRow.problem_id == r.problem_id,
                                        AttemptRow.id.startswith(prefix + ":", autoescape=True))
                                 .order_by(AttemptRow.attempt_index)).all()
            out.append({"split": r.split, "problem_id": r.problem_id, "score": r.score,
                        "answer": r.answer, "calls": r.calls, "error": r.error,
                        "tokens": (r.tokens_in or 0) + (r.tokens_out or 0),
                        "attempts": [{"id": a.id, "index": a.attempt_index} for a in found]})
    return out
