"""The loop's memory seam filled by the memory layer: a sheet before each problem, and after it
the outcome counters (moved by Crib on the verdict) and curation (proposed by the curator)."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from crib.agents.problems import Problem
from crib.agents.verdict import Verdict
from crib.memory.modes import MemoryContext, MemorySession


def problem_text(problem: Problem) -> str:
    return problem.input if isinstance(problem.input, str) else json.dumps(problem.input)


def outcome_verdict(outcome: Any) -> Verdict:
    """One verdict for the whole outcome: passed only when the loop's checks passed."""
    feedback = "; ".join(v.feedback for v in outcome.verdicts if v.feedback)
    if outcome.error:
        feedback = f"error: {outcome.error}" + (f"; {feedback}" if feedback else "")
    return Verdict(passed=outcome.passed, feedback=feedback[:2000], verifier="loop")


class MemoryHook:
    def __init__(self, store: Any, *, mode: str, scope: str, run_id: str | None, llm: Any,
                 gating: bool = True, token_budget: int = 1500) -> None:
        self.store = store
        self.run_id = run_id
        complete = llm.completer("curator", run_id=run_id)
        model = getattr(llm.role("curator"), "model", None)
        self.session = MemorySession(store, mode, scope, complete=complete, token_budget=token_budget,
                                     gating=gating, model=model)
        self._contexts: dict[str, MemoryContext] = {}
        self.last_sheet = ""  # what the latest prepare() rendered (chat's /memory shows it)

    async def prepare(self, problem: Problem) -> tuple[str, list[str], Any]:
        ctx = await self.session.prepare(problem_text(problem))
        self._contexts[problem.id] = ctx
        self.last_sheet = ctx.text
        return ctx.text, ctx.entry_ids, ctx.version

    async def after(self, problem: Problem, outcome: Any) -> None:
        ctx = self._contexts.pop(problem.id, None)
        verdict = outcome_verdict(outcome)
        if ctx is not None and ctx.entry_ids:
            await asyncio.to_thread(self.store.record_outcome, ctx.entry_ids, verdict, run_id=self.run_id)
        answer = "" if outcome.answer is None else str(outcome.answer)
        await self.session.after(problem_text(problem), answer, verdict, problem_id=problem.id,
                                 run_id=self.run_id, feedback=verdict.feedback or None, context=ctx)
