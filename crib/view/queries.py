"""What the viewer's pages show, read from the database (never written: see crib/view/app.py).

Each function returns plain dicts and lists for a template; nothing here knows about HTML.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from crib.agents.records import AttemptRow, CallRow, ResultRow, RunRow
from crib.agents.transcript_query import events

RUN_LIMIT = 500


def _options(manifest: dict) -> dict:
    return manifest.get("options") or {}


def runs(engine: Engine, mode: str = "", status: str = "", domain: str = "",
         text: str = "") -> list[dict]:
    """The runs list, newest first, filtered by mode, status, domain and a substring."""
    from crib.meta_search.records import SearchRunRow

    query = select(RunRow).order_by(RunRow.created_at.desc()).limit(RUN_LIMIT)
    if mode:
        query = query.where(RunRow.mode == mode)
    if status:
        query = query.where(RunRow.status == status)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        searches = {r.id: r for r in conn.execute(select(SearchRunRow)).all()}
    out = []
    for r in rows:
        manifest, summary = r.manifest or {}, r.summary or {}
        search = searches.get(r.id)
        best = summary.get("best") or {}
        spend = summary.get("spend") or summary
        row = {
            "id": r.id, "mode": r.mode, "status": r.status, "created_at": r.created_at,
            "domain": search.domain if search else _options(manifest).get("domain", ""),
            "agent": (search.strategy if search
                      else (manifest.get("agent") or {}).get("name", "")),
            "accuracy": best.get("median", summary.get("accuracy")),
            "ci_low": best.get("ci_low", summary.get("ci_low")),
            "ci_high": best.get("ci_high", summary.get("ci_high")),
            "n": best.get("n", summary.get("n")),
            "calls": spend.get("calls"), "cost_usd": spend.get("cost_usd"),
            "tokens": (spend.get("tokens_in") or 0) + (spend.get("tokens_out") or 0),
        }
        if domain and row["domain"] != domain:
            continue
        if text and text.lower() not in " ".join(str(v) for v in row.values()).lower():
            continue
        out.append(row)
    return out


def run(engine: Engine, run_id: str) -> dict | None:
    with engine.connect() as conn:
        r = conn.execute(select(RunRow).where(RunRow.id == run_id)).first()
    if r is None:
        return None
    return {"id": r.id, "mode": r.mode, "status": r.status, "manifest": r.manifest or {},
            "summary": r.summary or {}, "created_at": r.created_at}


def solve_problems(engine: Engine, run_id: str, failures_only: bool = False) -> list[dict]:
    """A solve run's problems in order, with their attempts' ids."""
    with engine.connect() as conn:
        results = conn.execute(select(ResultRow).where(ResultRow.run_id == run_id)
                               .order_by(ResultRow.position)).all()
        attempts = conn.execute(select(AttemptRow.id, AttemptRow.problem_id,
                                       AttemptRow.attempt_index, AttemptRow.passed)
                                .where(AttemptRow.run_id == run_id)
                                .order_by(AttemptRow.problem_id, AttemptRow.attempt_index)).all()
    by_problem: dict[str, list] = {}
    for a in attempts:
        by_problem.setdefault(a.problem_id, []).append(
            {"id": a.id, "index": a.attempt_index, "passed": a.passed})
    out = []
    for r in results:
        o = r.outcome or {}
        failed = bool(r.error) or not (r.score or 0) > 0
        if failures_only and not failed:
            continue
        out.append({"problem_id": r.problem_id, "position": r.position, "score": r.score,
                    "outcome": {**o, "problem_id": r.problem_id, "score": r.score,
                                "error": r.error},
                    "passed": r.passed, "error": r.error, "answer": o.get("answer"),
                    "calls": o.get("calls"), "tokens": (o.get("tokens_in") or 0)
                    + (o.get("tokens_out") or 0), "failed": failed,
                    "attempts": by_problem.get(r.problem_id, [])})
    return out


def running_accuracy(problems: list[dict]) -> list[tuple[int, float]]:
    """Accuracy over the first k problems in run order, for each k (a rising curve is what the
    memory learned)."""
    points, total = [], 0.0
    for i, p in enumerate(sorted(problems, key=lambda p: p["position"]), start=1):
        total += 0.0 if p["error"] else float(p["score"] or 0.0)
        points.append((i, total / i))
    return points


def learning(problems: list[dict], summary: dict | None = None) -> Any:
    """The run's cold and warm parts (agents/learning_curve.py), split and seeded as the run's
    summary says."""
    from crib.agents.learning_curve import COLD_SIZE, learning_curve

    summary = summary or {}
    cold = (summary.get("learning") or {}).get("cold_size") or COLD_SIZE
    ordered = sorted(problems, key=lambda p: p["position"])
    return learning_curve([p["outcome"] for p in ordered], cold_size=cold,
                          seed=summary.get("ci_seed") or 0)


def attempt(engine: Engine, attempt_id: str) -> dict | None:
    with engine.connect() as conn:
        a = conn.execute(select(AttemptRow).where(AttemptRow.id == attempt_id)).first()
        if a is None:
            return None
        calls = conn.execute(select(func.count()).where(CallRow.attempt_id == attempt_id)).scalar()
    return {"id": a.id, "run_id": a.run_id, "problem_id": a.problem_id, "agent": a.agent_name,
            "policy": a.policy, "index": a.attempt_index, "answer": a.answer,
            "raw_output": a.raw_output, "passed": a.passed, "verdicts": a.verdicts or [],
            "feedback_in": a.feedback_in, "calls": a.calls, "ledger_calls": calls,
            "tokens_in": a.tokens_in, "tokens_out": a.tokens_out, "cost_usd": a.cost_usd,
            "wall_ms": a.wall_ms, "error": a.error, "memory_entry_ids": a.memory_entry_ids or [],
            "cheatsheet_version": a.cheatsheet_version,
            "events": events(engine, attempt_id=attempt_id)}


def loose_call_count(engine: Engine, run_id: str) -> int:
    from crib.agents.transcripts import TranscriptEventRow as t

    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(
            t.run_id == run_id, t.attempt_id.is_(None), t.kind == "call")).scalar() or 0


def loose_calls(engine: Engine, run_id: str) -> list[dict]:
    """A run's model calls outside any attempt (chat turns, meta-agent proposals, curation)."""
    return events(engine, run_id=run_id, kinds=("call",))
