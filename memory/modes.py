"""Memory modes, so Dynamic Cheatsheet's comparisons can be run (`--memory`):

- none:         plain prompt, no memory at all.
- empty:        the cheatsheet prompt with an empty sheet.
- full-history: every earlier problem of the scope with its answer.
- retrieval:    the k most similar earlier problems with their answers.
- dc-cu:        the curated sheet (pinned, useful, relevant first); curate after each problem.
- dc-rs:        before each problem, synthesise its own sheet from the entries and the most
                similar earlier problems (a model call); curate after each problem.
- skills:       only the verified skills (agents/skills.py learns them in the dc modes and in
                this one); no prose curation, so no curator call per problem. With no skill
                yet the prompt is exactly mode none's.

`MemorySession.prepare(problem)` returns the memory part of the prompt and the entry ids in it
(the solve loop passes those ids to `store.record_outcome` with the attempt's verdict);
`MemorySession.after(...)` records the problem and, in dc modes, curates by operations.
With gating on, past problems whose answer did not pass are not shown.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Collection

from crib.memory.curator import Complete, curate
from crib.memory.mode_names import CURATED, MEMORY_MODES
from crib.memory.models import (CurationResult, MemoryEntry, PastProblem, Provenance, VerdictLike,
                               verdict_passed)
from crib.memory.render import rank
from crib.memory.store import MemoryStore

log = logging.getLogger(__name__)

MODES = MEMORY_MODES

CHEATSHEET_INTRO = """\
# Cheatsheet
Below is a cheatsheet of strategies, code snippets and pitfalls collected while solving earlier \
problems of this kind. Use what applies; ignore what does not. If an entry holds working code \
for this kind of problem, adapt and use it rather than starting from scratch.
"""
EMPTY_SHEET = "(The cheatsheet is empty so far.)\n"
SKILLS_INTRO = """\
# Skills
Below are Python functions that solved earlier problems of this kind and passed tests on others. \
If one fits this problem, call it rather than writing a solver from scratch.
"""
HISTORY_INTRO = "# Earlier problems and the answers given to them\n"
RETRIEVAL_INTRO = "# Similar earlier problems and the answers given to them\n"

SYNTHESIS_SYSTEM = """\
You prepare a cheatsheet for one new problem. You get the new problem, the current cheatsheet \
entries (ids in brackets) and similar earlier problems with their answers. Write a short \
cheatsheet that helps with this problem only: the strategies and code that apply, pitfalls to \
avoid, and what the similar problems teach. Copy useful code in full. Keep the entry id in \
brackets, like [m-1a2b3c4d5e], after anything taken from an entry. Do not solve the problem."""


@dataclass
class MemoryContext:
    mode: str
    scope: str
    text: str = ""  # the memory part of the prompt ("" in mode none)
    entry_ids: list[str] = field(default_factory=list)  # entries rendered into `text`
    problem_ids: list[int] = field(default_factory=list)  # past problems shown
    version: int = 0  # the sheet version it was built from
    tokens: int = 0


def _label(passed: bool | None) -> str:
    return {True: "verified correct", False: "failed verification", None: "not verified"}[passed]


def format_past(problems: list[PastProblem]) -> str:
    return "\n".join(f"## Problem {i} ({_label(p.passed)})\n{p.problem.strip()}\n"
                     f"### Answer\n{p.answer.strip()}\n"
                     for i, p in enumerate(problems, 1))


class MemorySession:
    def __init__(self, store: MemoryStore, mode: str, scope: str, complete: Complete | None = None,
                 token_budget: int = 1500, k: int = 3, gating: bool = True, curate_k: int = 8,
                 history_budget: int | None = None, model: str | None = None):
        if mode not in MODES:
            raise ValueError(f"unknown memory mode {mode!r}; modes are {', '.join(MODES)}")
        if mode in CURATED and complete is None:
            raise ValueError(f"memory mode {mode} needs a `complete` callable for the curator")
        self.store, self.mode, self.scope, self.complete = store, mode, scope, complete
        self.token_budget, self.k, self.gating, self.curate_k = token_budget, k, gating, curate_k
        self.history_budget = history_budget
        self.model = model

    def _complete(self) -> Complete:
        if self.complete is None:  # __init__ requires one for the dc modes, its only users
            raise RuntimeError(f"memory mode {self.mode} has no `complete` callable")
        return self.complete

    # ---- before a problem ------------------------------------------------------------------
    # Store calls (SQL, embedding, Chroma) block; they run in worker threads so that many
    # problems solved concurrently on one event loop do not queue behind each other.
    async def prepare(self, problem: str, without: Collection[str] = ()) -> MemoryContext:
        """The sheet for `problem`, leaving out the entries whose ids are in `without` (the
        skills a retry sets aside)."""
        if self.mode == "dc-rs":
            ctx = MemoryContext(mode=self.mode, scope=self.scope)
            await self._synthesise(problem, ctx, without)
            if ctx.text and not ctx.tokens:
                ctx.tokens = self.store.count_tokens(ctx.text)
            return ctx
        return await asyncio.to_thread(self._prepare, problem, without)

    def _prepare(self, problem: str, without: Collection[str] = ()) -> MemoryContext:
        ctx = MemoryContext(mode=self.mode, scope=self.scope,
                            version=self.store.version(self.scope))
        if self.mode == "none":
            return ctx
        if self.mode == "empty":
            ctx.text = CHEATSHEET_INTRO + EMPTY_SHEET
        elif self.mode == "full-history":
            self._full_history(ctx)
        elif self.mode == "skills":
            sheet = self.store.render(self.scope, problem, self.token_budget, kinds=("skill",),
                                      exclude=without)
            ctx.entry_ids, ctx.tokens = sheet.entry_ids, sheet.tokens
            ctx.text = SKILLS_INTRO + sheet.text if sheet.entry_ids else ""
        elif self.mode == "retrieval":
            past = self._similar(problem)
            ctx.problem_ids = [p.id for p in past]
            ctx.text = RETRIEVAL_INTRO + format_past(past) if past else ""
        else:
            sheet = self.store.render(self.scope, problem, self.token_budget, exclude=without)
            ctx.entry_ids, ctx.tokens = sheet.entry_ids, sheet.tokens
            # No entry to show, no sheet: on GSM8K (no checker, every curated entry still
            # quarantined) the intro alone changed the 1.5B model's greedy answers, 3 for the
            # better and 6 for the worse in 39 problems. The `empty` mode measures the intro.
            ctx.text = CHEATSHEET_INTRO + sheet.text if sheet.entry_ids else ""
        if ctx.text and not ctx.tokens:
            ctx.tokens = self.store.count_tokens(ctx.text)
        return ctx

    def _similar(self, problem: str) -> list[PastProblem]:
        if self.store.index is None:
            raise RuntimeError(
                f"memory mode {self.mode} needs a vector index (chroma_dir or chroma_url)")
        return [p for p, _ in self.store.similar_problems(self.scope, problem, self.k,
                                                          passed_only=self.gating)]

    def _full_history(self, ctx: MemoryContext) -> None:
        past = [p for p in self.store.problems(self.scope) if not self.gating or p.passed is True]
        if self.history_budget is not None:  # keep the most recent that fit
            kept, used = [], 0
            for p in reversed(past):
                cost = self.store.count_tokens(format_past([p]))
                if used + cost > self.history_budget:
                    break
                kept.append(p)
                used += cost
            past = list(reversed(kept))
        ctx.problem_ids = [p.id for p in past]
        ctx.text = HISTORY_INTRO + format_past(past) if past else ""

    def _gather(self, problem: str, without: Collection[str] = ()):
        version = self.store.version(self.scope)
        sheet = self.store.render(self.scope, problem, self.token_budget, exclude=without)
        past = self._similar(problem) if self.store.index is not None else []
        return version, sheet, past

    async def _synthesise(self, problem: str, ctx: MemoryContext,
                          without: Collection[str] = ()) -> None:
        ctx.version, sheet, past = await asyncio.to_thread(self._gather, problem, without)
        ctx.problem_ids = [p.id for p in past]
        if not sheet.entry_ids and not past:
            return  # nothing to synthesise from: no sheet, as in dc-cu
        user = (f"## New problem\n{problem.strip()}\n\n"
                f"## Current cheatsheet\n{sheet.text or '(empty)'}\n\n"
                f"## Similar earlier problems\n{format_past(past) or '(none)'}\n\n"
                "Write the cheatsheet for the new problem.")
        try:
            text = await self._complete()([{"role": "system", "content": SYNTHESIS_SYSTEM},
                                           {"role": "user", "content": user}])
        except Exception as exc:  # a failed synthesis must not fail the problem: use the sheet
            log.warning("memory dc-rs: synthesis failed (%s); using the rendered sheet", exc)
            ctx.entry_ids, ctx.text = sheet.entry_ids, CHEATSHEET_INTRO + sheet.text
            return
        # Counters move for the entries the synthesis drew on (cited by id).
        ctx.entry_ids = [i for i in sheet.entry_ids if i in text]
        ctx.text = CHEATSHEET_INTRO + text.strip() + "\n"

    # ---- after a problem -------------------------------------------------------------------
    async def after(self, problem: str, answer: str, verdict: VerdictLike = None,
                    problem_id: str | None = None, run_id: str | None = None,
                    feedback: str | None = None,
                    context: MemoryContext | None = None) -> CurationResult | None:
        """Record the problem (history, retrieval, skills and dc modes: a skill is tested on
        earlier passed problems where the domain generates none) and curate (dc modes)."""
        if self.mode in ("none", "empty"):
            return None
        await asyncio.to_thread(self.store.record_problem, self.scope, problem, answer, verdict,
                                problem_id=problem_id, run_id=run_id,
                                score=getattr(verdict, "score", None))
        if self.mode not in CURATED:
            return None
        if await asyncio.to_thread(self.store.curated, self.scope, run_id, problem_id):
            return None  # a resumed run solved this problem again: it was learned from once
        relevant = await asyncio.to_thread(self.relevant_entries, problem, context)
        provenance = Provenance(problem_id=problem_id, run_id=run_id, model=self.model)
        return await curate_and_apply(self.store, self._complete(), self.scope, problem, answer,
                                      verdict, relevant=relevant, gating=self.gating,
                                      provenance=provenance, feedback=feedback)

    def relevant_entries(self, problem: str,
                         context: MemoryContext | None = None) -> list[MemoryEntry]:
        """What the curator sees: the entries that were in the prompt, then the most similar
        (or, without an index, the most useful) live entries, up to curate_k."""
        # Skills are Crib's (tested code, memory/skills.py): the curator neither sees nor edits
        # them.
        live = {e.id: e for e in self.store.entries(self.scope, status=("active", "quarantined"))
                if e.kind != "skill"}
        chosen = [i for i in (context.entry_ids if context else []) if i in live]
        if self.store.index is not None and live:
            hits = self.store.search(self.scope, problem, self.curate_k, status=None)
            chosen += [e.id for e, _ in hits if e.id in live]
        chosen += [e.id for e in rank([e for e in live.values() if e.status == "active"])]
        unique = list(dict.fromkeys(chosen))[: self.curate_k]
        return [live[i] for i in unique]


async def curate_and_apply(store: MemoryStore, complete: Complete, scope: str, problem: str,
                           answer: str, verdict: VerdictLike, relevant: list[MemoryEntry],
                           gating: bool = True, provenance: Provenance | None = None,
                           feedback: str | None = None) -> CurationResult:
    """One curation: ask for operations, apply what validates, record everything (a malformed
    reply is recorded and leaves the sheet unchanged)."""
    provenance = provenance or Provenance()
    proposal = await curate(complete, problem, answer, verdict, relevant, feedback)
    if proposal.malformed:
        v = store.version(scope)
        rejected = [{"op": proposal.raw[:2000], "reason": proposal.malformed}]
        result = CurationResult(status="malformed", rejected=rejected,
                                version_before=v, version_after=v)
        await asyncio.to_thread(store.record_curation, scope, result, raw=proposal.raw,
                                run_id=provenance.run_id, problem_id=provenance.problem_id)
        return result
    return await asyncio.to_thread(store.apply, scope, proposal.ops, provenance,
                                   gated_by=verdict_passed(verdict), gating=gating,
                                   prior_rejections=proposal.rejected, raw=proposal.raw,
                                   seen_versions={e.id: e.version for e in relevant})
