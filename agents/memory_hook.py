"""The loop's memory seam (`SolveContext.memory`), filled by the memory layer: a sheet before
each problem, and after it the entries' counters (moved by Crib on each attempt's verdict, for
the entries that were in a prompt of that attempt) and curation (proposed by the curator).
Defined once, here; crib's wiring builds it (`crib.context`)."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Collection

from crib.agents.problems import Problem
from crib.agents.prompt_sheet import Sheet
from crib.agents.skill_lift import skill_inputs
from crib.agents.verdict import Verdict
from crib.memory.modes import MemoryContext, MemorySession
from crib.memory.skills import skill_name, skill_params

if TYPE_CHECKING:  # the loop imports this module; the client and the skill loop load elsewhere
    from crib.agents.llm import LLM
    from crib.agents.loop import ProblemOutcome
    from crib.agents.skills import SkillLoop
    from crib.memory.store import MemoryStore


def outcome_verdict(outcome: ProblemOutcome) -> Verdict:
    """One verdict for the whole outcome: passed only when the loop's checks passed."""
    feedback = "; ".join(v.feedback for v in outcome.verdicts if v.feedback)
    if outcome.error:
        feedback = f"error: {outcome.error}" + (f"; {feedback}" if feedback else "")
    return Verdict(passed=outcome.passed, feedback=feedback[:2000], verifier="loop")


class MemoryHook:
    """What the solve loop asks of memory: `prepare` before a problem, `after` once it is done."""

    def __init__(self, store: MemoryStore, *, mode: str, scope: str, run_id: str | None, llm: LLM,
                 gating: bool = True, token_budget: int = 1500) -> None:
        self.store = store
        self.run_id = run_id
        complete = llm.completer("curator", run_id=run_id)
        model = getattr(llm.role("curator"), "model", None)
        self.session = MemorySession(store, mode, scope, complete=complete,
                                     token_budget=token_budget, gating=gating, model=model)
        self._contexts: dict[str, MemoryContext] = {}
        self.last_sheet = ""  # what the latest prepare() rendered (chat's /memory shows it)
        self.skills: SkillLoop | None = None  # set when the run learns skills

    def skill_sources(self) -> dict[str, str]:
        """The promoted skills' code, importable in the sandbox as `skills`."""
        return self.skills.sources() if self.skills is not None else {}

    async def prepare(self, problem: Problem, set_aside: Collection[str] = ()) -> Sheet:
        """The sheet for `problem`: the rendered entries, and as its note the skills among them
        called on the problem's own inputs. `set_aside`: names of skills to leave out (a
        retry's, after they failed on `problem`); the problem's first sheet stays the one its
        curation sees."""
        without: list[str] = []
        if set_aside:
            active = await asyncio.to_thread(self.store.entries, self.session.scope, "active")
            without = [e.id for e in active if e.kind == "skill" and skill_name(e) in set_aside]
        ctx = await self.session.prepare(problem.text, without)
        if not set_aside:
            self._contexts[problem.id] = ctx
        note = ""
        if self.skills is not None and ctx.entry_ids:
            note = await asyncio.to_thread(self._skill_calls, problem, ctx.entry_ids)
        sheet = Sheet(ctx.text, ctx.entry_ids, ctx.version, note)
        self.last_sheet = sheet.whole()
        return sheet

    def _skill_calls(self, problem: Problem, shown: list[str]) -> str:
        """The sheet's skills called on this problem's own inputs, read off its text as the
        skill tests read them. Shown only a docstring whose example held another problem's
        numbers, the 1.5B model rewrote the skill around those numbers instead of calling it."""
        found = {e.id: e for e in self.store.entries(self.session.scope, "active", ids=shown)}
        skills = [found[i] for i in shown if i in found and found[i].kind == "skill"]  # sheet order
        if not skills:
            return ""
        calls = []
        for e in skills:
            args = ", ".join(map(repr, skill_inputs(problem.text, skill_params(e)).values()))
            calls.append(f"{skill_name(e)}({args})")
        # A whole program to copy: shown a call in prose, the 1.5B model still wrote its own
        # function of the skill's name.
        first, *others = calls
        text = ("A tested skill from your memory solves problems of this kind. This program "
                f"calls it on this problem:\n```python\nfrom skills import "
                f"{skill_name(skills[0])}\nprint({first})\n```")
        if others:
            text += "\nAnother skill, called the same way: " + "; ".join(
                f"`{c}`" for c in others)
        return text

    async def after(self, problem: Problem, outcome: ProblemOutcome) -> None:
        """Move the counters of the entries each attempt showed the model (its
        `memory_entry_ids`) on that attempt's verdict, then record and curate. An outcome
        with no attempts was answered without the loop by a caller that put the whole sheet in
        its own prompt (chat's direct answers): its rendered entries count, on its verdict."""
        ctx = self._contexts.pop(problem.id, None)
        verdict = outcome_verdict(outcome)
        shown: list[tuple[list[str], bool | None, str | None]] = [
            (a.memory_entry_ids, a.passed, a.id) for a in outcome.attempts]
        if not outcome.attempts and ctx is not None:
            shown = [(ctx.entry_ids, outcome.passed, None)]
        for entry_ids, passed, attempt_id in shown:
            if entry_ids:
                await asyncio.to_thread(self.store.record_outcome, entry_ids, passed,
                                        run_id=self.run_id, attempt_id=attempt_id)
        if self.skills is not None:  # Crib's own capture and tests: before the curator's call
            await self.skills.after(problem, outcome)
        answer = "" if outcome.answer is None else str(outcome.answer)
        await self.session.after(problem.text, answer, verdict, problem_id=problem.id,
                                 run_id=self.run_id, feedback=verdict.feedback or None, context=ctx)
