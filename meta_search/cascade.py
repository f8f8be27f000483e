"""The evaluation cascade every candidate goes through, cheapest stage first.

1. static check (`static_check`): parses, defines `forward`, nothing the runtime cannot serve;
2. smoke: the first `smoke_problems` validation problems in the sandbox. An error on any of
   them, or (with `zero_is_failure`) a zero score on all, is a failure (without it, a reply
   with no answer in it is a wrong answer, not an error: compiled code cannot be fixed by
   debugging, and the seed it came from fails the same way): the meta-agent sees the
   error or the answers and returns fixed code, up to `debug_rounds` times (static failures use
   the same rounds). Each round's results are split `smoke<round>`;
3. minibatch: the first `minibatch` validation problems (recorded under split `validation`,
   so later stages reuse them and pay only for the rest; a passing smoke run is reused as the
   first validation outcomes too), then, if promoted, the first `minibatch * stage_factor`;
4. promotion rule (`promotion="ucb"`), applied after each minibatch stage: go on only if the
   upper 95% bound so far is at least the best full-validation median in the archive (the
   candidate could still be the best), or if nothing has a full-validation score yet.
   `promotion="all"` sends every candidate to full validation (the no-cascade baseline);
5. full validation: fitness `validation` (ADAS median of bootstrap means and 95% interval).

Every candidate ends with a status and the reason it stopped; nothing is dropped.
Every step is idempotent: rerunning a half-done candidate (resume) continues where it was.
"""
from __future__ import annotations

from typing import Callable, Literal, Sequence

from pydantic import BaseModel, Field

from crib.agents.loop import NO_ANSWER
from crib.agents.problems import Problem
from crib.meta_search.archive import Archive, Entry, Outcome
from crib.meta_search.evaluate import Evaluator
from crib.meta_search.meta_agent import MetaAgent, ProposalError
from crib.meta_search.records import EVALUATED, MINIBATCH, PROPOSED, REJECTED, SMOKE_FAILED
from crib.meta_search.static_check import static_check

TERMINAL = (EVALUATED, MINIBATCH, SMOKE_FAILED, REJECTED)


class CascadePolicy(BaseModel):
    smoke_problems: int = Field(default=2, ge=1)
    debug_rounds: int = Field(default=3, ge=0)
    minibatch: int = Field(default=16, ge=1)
    zero_is_failure: bool = True
    promotion: Literal["ucb", "all"] = "ucb"
    # Successive stages: minibatch, then minibatch * factor, each checked with the rule
    # (0 or 1: a single minibatch stage).
    stage_factor: int = Field(default=3, ge=0)
    seed: int = 0
    n_resamples: int = Field(default=10_000, ge=100)

    def stage_sizes(self, n_validation: int) -> list[int]:
        """Problem counts checked before full validation (each smaller than the split)."""
        sizes = [self.minibatch]
        if self.stage_factor > 1:
            sizes.append(self.minibatch * self.stage_factor)
        return [k for k in sizes if k < n_validation]


def promote(minibatch_high: float, best_median: float | None) -> bool:
    """The promotion rule: could this candidate still beat the best? (see module docstring)"""
    return best_median is None or minibatch_high >= best_median


def smoke_failure(outcomes: Sequence[Outcome], zero_is_failure: bool) -> str | None:
    """What went wrong on the smoke problems, for the meta-agent to fix (None: passed)."""
    errors = [(o.problem_id, o.error) for o in outcomes
              if o.error and (zero_is_failure or o.error != NO_ANSWER)]
    if errors:
        return "\n".join(f"Problem {pid}: error:\n{error[-1500:]}" for pid, error in errors)
    if zero_is_failure and outcomes and all(o.score <= 0 for o in outcomes):
        answers = "\n".join(f"Problem {o.problem_id}: answer {str(o.answer)[:300]!r} scored 0"
                            for o in outcomes)
        return ("It ran without errors but every answer was wrong (or missing / not in the "
                "required format):\n" + answers)
    return None


class Cascade:
    def __init__(self, archive: Archive, evaluator: Evaluator, meta: MetaAgent | None,
                 validation: Sequence[Problem], policy: CascadePolicy | None = None,
                 memory_aware: bool = False):
        self.archive = archive
        self.evaluator = evaluator
        self.meta = meta
        self.validation = list(validation)
        self.policy = policy or CascadePolicy()
        self.memory_aware = memory_aware
        self.on_stage: Callable[[Entry, str], None] | None = None  # dashboard hook

    def _stage(self, entry: Entry, stage: str) -> Entry:
        if self.on_stage:
            self.on_stage(entry, stage)
        return self.archive.set_entry(entry.id, stage=stage)

    def _finish(self, entry: Entry, status: str, reason: str | None) -> Entry:
        cost, tokens = self.archive.entry_spend(entry.id)
        entry = self.archive.set_entry(entry.id, status=status, reason=reason, cost_usd=cost,
                                       tokens=tokens)
        if self.on_stage:
            self.on_stage(entry, status)
        return entry

    async def run_seed(self, entry: Entry) -> Entry:
        """Seeds (and imports) skip smoke and promotion: they are the baseline."""
        if entry.status in TERMINAL:
            return entry
        report = static_check(entry.code)
        if not report.ok:
            return self._finish(entry, REJECTED, f"static check: {report.reason}")
        return await self._full(entry)

    async def run(self, entry: Entry) -> Entry:
        """Take a candidate through the cascade (from wherever it stopped)."""
        if entry.status in TERMINAL:
            return entry
        entry = await self._static_and_smoke(entry)
        if entry.status in TERMINAL:
            return entry
        p = self.policy
        if p.promotion == "all":
            return await self._full(entry)
        for size in p.stage_sizes(len(self.validation)):
            entry = self._stage(entry, "minibatch")
            outcomes = await self.evaluator.evaluate(entry, self.validation[:size], "validation")
            mb = self.archive.set_fitness(entry.id, "minibatch", outcomes, p.seed,
                                          p.n_resamples, halves=self.memory_aware)
            best = self._best_other(entry.id)
            if best is None or best.val is None:  # nothing to beat yet: on to the next stage
                continue
            if not promote(mb.ci_high, best.val.median):
                return self._finish(
                    entry, MINIBATCH,
                    f"not promoted: upper bound {mb.ci_high:.3f} on the first {size} problems "
                    f"< best validation median {best.val.median:.3f} (#{best.id} {best.name})")
        return await self._full(entry)

    def _best_other(self, entry_id: int) -> Entry | None:
        for e in self.archive.leaderboard("validation"):
            if e.id != entry_id:
                return e
        return None

    async def _full(self, entry: Entry) -> Entry:
        entry = self._stage(entry, "validation")
        outcomes = await self.evaluator.evaluate(entry, self.validation, "validation")
        fit = self.archive.set_fitness(entry.id, "validation", outcomes, self.policy.seed,
                                       self.policy.n_resamples, halves=self.memory_aware)
        errs = f", {fit.errors} problem errors" if fit.errors else ""
        return self._finish(entry, EVALUATED,
                            f"validation median {fit.median:.3f} "
                            f"[{fit.ci_low:.3f}, {fit.ci_high:.3f}] n={fit.n}{errs}")

    def _reuse_smoke(self, entry: Entry, outcomes: Sequence[Outcome]) -> None:
        """The passing smoke run is the final code on the first validation problems: record it
        as their validation outcome instead of paying for them again (not with memory-aware
        fitness, where validation runs with the entry's own memory and smoke does not)."""
        if self.memory_aware:
            return
        for position, outcome in enumerate(outcomes):
            # Spend stays on the smoke record: the copy costs nothing, so totals count it once.
            free = outcome.model_copy(update={"calls": 0, "tokens_in": 0, "tokens_out": 0,
                                              "cost_usd": 0.0})
            self.archive.record(entry.id, "validation", position, free)

    async def _static_and_smoke(self, entry: Entry) -> Entry:
        p = self.policy
        smoke = self.validation[: p.smoke_problems]
        while True:
            r = entry.debug_rounds
            report = static_check(entry.code)
            if report.ok:
                entry = self._stage(entry, "smoke")
                outcomes = await self.evaluator.evaluate(entry, smoke, f"smoke{r}",
                                                         use_memory=False)
                failure = smoke_failure(outcomes, p.zero_is_failure)
                if failure is None:
                    self._reuse_smoke(entry, outcomes)
                    return entry
                kind, status = "smoke run", SMOKE_FAILED
            else:
                entry = self._stage(entry, "static")
                failure = f"Static check rejected the code: {report.reason}"
                kind, status = "static check", REJECTED
            if r >= p.debug_rounds or self.meta is None:
                return self._finish(entry, status, f"{kind} failed after {r} debug rounds: "
                                    f"{failure[:600]}")
            entry = self._stage(entry, f"debug{r + 1}")
            try:
                fix = await self.meta.debug(entry.name, entry.code, failure, entry.generation,
                                            r + 1)
            except ProposalError as exc:
                # An unusable reply (cut off, not JSON) spends its round; the code stays, and
                # the next round (after the same checks) sees the failure again.
                entry = self.archive.replace_code(
                    entry.id, entry.code, note={"step": f"debug{r + 1}", "failure": failure[:2000],
                                                "unusable_reply": str(exc)[:500]},
                    debug_rounds=r + 1)
                if r + 1 >= p.debug_rounds:
                    return self._finish(entry, status, f"{kind} failed after {r + 1} debug rounds "
                                        f"(the last reply was unusable: {exc}): {failure[:600]}")
                continue
            entry = self.archive.replace_code(
                entry.id, fix.code, note={"step": f"debug{r + 1}", "failure": failure[:2000],
                                          "thought": fix.thought}, debug_rounds=r + 1)
            if entry.status == REJECTED:  # the fix duplicates another entry
                return self._finish(entry, REJECTED, entry.reason)
            if entry.status != PROPOSED:
                return entry
