"""The skill loop: capture verified code as a candidate skill, test it, repair it, promote it,
and demote a promoted skill that keeps failing (memory/skills.py keeps the records).

After each problem (`SkillLoop.after`):
- every attempt whose run_python snippets called an active skill is a *use* of it, recorded
  with that attempt's verdict; a skill whose uses show it passes under half of them is
  archived (demoted); a skill that fails on the problem is *refined*: the model fixes it with
  that case and its earlier failures, and a fix is kept only if it solves the problem and
  still passes its tests (Voyager's skill refinement);
- when the chosen attempt's answer passed the domain's target-free checker, the last snippet
  of that attempt that ran cleanly becomes a candidate: Crib lifts the problem's literals into
  parameters (agents/skill_lift.py), or, when it finds none, asks the model once to write the
  general function;
- a candidate runs in the snippet sandbox on `k` other problems of the domain (generated where
  the domain can, else earlier problems whose answers passed), judged by the domain's checker,
  until it has passed `m` or can no longer reach `m`; it is promoted at `m` of `k` (14 of 20:
  tests cost no model call, and at 4 of 5 a Game of 24 skill covering 47% of puzzles passed one
  time in 7, one covering 75% failed one time in 3), else it goes back to the model with its
  failing cases for up to `repairs` rounds (a reply with no code or the same code, or a fix
  that passes no more tests, spends its round), and is archived if it never gets there.
Every step is a memory event (add, repair, promote, archive, demote). Capture, tests and
bookkeeping are Crib's: the model only writes code, and only when asked to generalise or repair.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from crib.agents.llm.errors import BudgetExceeded
from crib.agents.problems import Problem
from crib.agents.skill_lift import (
    code_block, lift_script, only_definitions, skill_function_name, skill_inputs,
)
from crib.memory.models import MemoryEntry, Provenance
from crib.memory.skills import (
    SkillError, candidate, parse_skill, record_trials, should_demote, skill_name, skill_params,
    skill_records, skill_sources, trials, uses_skill,
)
from crib.sandbox import Limits, Sandbox

if TYPE_CHECKING:
    from crib.memory.store import MemoryStore

log = logging.getLogger(__name__)

Complete = Callable[..., Awaitable[str]]  # async (messages, **params) -> text
REPAIR_TEMPERATURE = 0.7  # repairs sample: asked greedily, the 1.5B model resent its code
TEST_TIMEOUT_S = 10.0
MAX_CASES_SHOWN = 3  # failing cases a repair prompt shows
REFINE_SAMPLES = 3  # fixes sampled a refinement
# Samples a run spends on refinement before one must have been kept: the 1.5B model's 18
# samples over three runs gave no fix worth keeping, and cost 8 of make demo's 26 minutes.
REFINE_BUDGET = 3

GENERALISE_PROMPT = """\
This program solved the problem below. Rewrite it as one general Python function that solves \
any problem of this kind.

## Problem
{problem}

## Program
```python
{code}
```

Write `def {name}(numbers, text):` with a docstring, where `numbers` is the list of the numbers \
in the problem's input in order (for this problem: {numbers}) and `text` is the problem's input \
text (for this problem: {text!r}). It must return the answer as text, in the same form the \
program printed it. Use only the standard library. Reply with the function in one ```python \
block."""

REPAIR_PROMPT = """\
This function should solve every problem of its kind, but it failed on some of them.

```python
{code}
```

## Failing cases
{cases}

First say in two or three sentences why it fails on these cases: which problems of this kind \
does it not handle? Then fix it. Keep the name and the parameters (`def {signature}:`) and the \
docstring, and return the answer as text. Reply with the whole function in one ```python block."""


@dataclass
class TestReport:
    passed: int
    total: int
    failures: list[dict[str, Any]]  # {"problem", "inputs", "output", "error"}
    results: list[tuple[str, bool, str | None]]  # (problem id, passed, error), in order


# What programs print when their search came up empty ("None", "No solution found."):
# judged as an answer, the checker's words are about its letters.
NOTHING_FOUND = re.compile(r"^\W*(none|no (solution|answer|valid \w+)|not found|"
                           r"(solution|answer) not found)\b", re.IGNORECASE)


def found_nothing(answer: str | None) -> bool:
    return not (answer or "").strip() or NOTHING_FOUND.match(answer or "") is not None


class SkillLoop:
    def __init__(self, store: MemoryStore, scope: str, domain: Any, sandbox: Sandbox,
                 complete: Complete | None = None, run_id: str | None = None,
                 model: str | None = None, *, k: int = 20, m: int = 14, repairs: int = 2,
                 max_active: int = 3, seed: int = 0, refines: int = 3,
                 refine_samples: int = REFINE_SAMPLES, refine_budget: int = REFINE_BUDGET,
                 test_timeout_s: float = TEST_TIMEOUT_S) -> None:
        self.store, self.scope, self.domain, self.sandbox = store, scope, domain, sandbox
        self.complete, self.run_id, self.model = complete, run_id, model
        self.k, self.m, self.repairs, self.max_active, self.seed = k, m, repairs, max_active, seed
        self.test_timeout_s = test_timeout_s
        self.refines, self.refine_samples = refines, refine_samples
        self.refine_budget = refine_budget
        self._refined: dict[str, int] = {}  # skill id -> refinements tried in this run
        self._refine_asked = self._refine_kept = 0  # samples asked, fixes kept in this run
        self._lock = asyncio.Lock()  # one capture at a time: no twin candidates
        self.enabled = bool(getattr(domain, "has_checker", False))

    # ---- what a run sees -------------------------------------------------------------------
    def sources(self) -> dict[str, str]:
        """The active skills' code, for the sandbox's `skills` module."""
        return skill_sources(self.store.entries(self.scope, status="active"))

    # ---- after a problem -------------------------------------------------------------------
    async def after(self, problem: Problem, outcome: Any) -> None:
        if not self.enabled:
            return
        async with self._lock:
            failed = await asyncio.to_thread(self._record_uses, problem, outcome)
            for entry in failed:
                try:
                    if await self.refine(entry, problem) is not None:
                        outcome.notes.append(f"skill {skill_name(entry)} refined after failing "
                                             "here")
                except BudgetExceeded:
                    raise
                except Exception as exc:  # noqa: BLE001 - a failed refinement fails nothing
                    log.warning("refining skill %s failed: %s: %s", entry.id,
                                type(exc).__name__, exc)
            code, attempt = self._captured_snippet(outcome)
            if code is None:
                return
            active = await asyncio.to_thread(self.store.entries, self.scope, "active")
            if sum(e.kind == "skill" for e in active) >= self.max_active:
                return
            try:
                learned = await self.capture(problem, code, attempt)
                if learned is not None:
                    outcome.notes.append(await asyncio.to_thread(self._capture_note, learned))
            except SkillError as exc:
                log.info("skill capture for %s skipped: %s", problem.id, exc)
            except BudgetExceeded:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed capture must not fail the problem
                log.warning("skill capture for %s failed: %s: %s", problem.id,
                            type(exc).__name__, exc)

    def _record_uses(self, problem: Problem, outcome: Any) -> list[MemoryEntry]:
        """Record each active skill's uses in this problem's attempts; demote a skill whose
        uses mostly fail. Returns the skills still active that a failed attempt used."""
        failed = []
        active = [e for e in self.store.entries(self.scope, status="active") if e.kind == "skill"]
        for entry in active:
            name = skill_name(entry)
            calls = [a for a in outcome.attempts if a.passed is not None
                     and any(uses_skill(s.get("code", ""), name) for s in a.snippets)]
            if not calls:
                continue
            # One use a problem, passed if an attempt calling the skill passed: a retry that
            # calls it again on the same problem is not fresh evidence against it.
            passed = any(a.passed for a in calls)
            error = next((a.error for a in calls if a.error), None)
            record_trials(self.store.engine, entry, "use", [(problem.id, passed, error)],
                          run_id=self.run_id)
            outcome.notes.append(f"called skill {name} in {len(calls)} attempt(s), "
                                 f"{sum(a.passed is True for a in calls)} passed")
            record = skill_records(self.store.engine, [entry])[entry.id]
            if should_demote(record):
                self.store.edit(entry.id, action="demote", status="archived",
                                reason=f"demoted: {record.text()}")
                outcome.notes.append(f"skill {name} demoted: {record.text()}")
            elif not passed:
                failed.append(entry)
        return failed

    def _capture_note(self, entry: MemoryEntry) -> str:
        """What the problem's record says about the skill captured from it."""
        record = skill_records(self.store.engine, [entry])[entry.id]
        verb = "learned" if entry.status == "active" else "tried and archived"
        return f"skill {skill_name(entry)} {verb} from this problem: {record.text()}"

    def _captured_snippet(self, outcome: Any) -> tuple[str | None, Any]:
        """The code to learn from: the last clean snippet of the chosen attempt, if it passed
        and called no skill (a call of a skill is a use, not new code)."""
        if outcome.passed is not True or outcome.chosen_attempt is None:
            return None, None
        chosen = next((a for a in outcome.attempts if a.index == outcome.chosen_attempt), None)
        if chosen is None or chosen.passed is not True:
            return None, None
        clean = [s for s in chosen.snippets if s.get("ok") and (s.get("stdout") or "").strip()]
        if not clean or "skills" in clean[-1].get("code", ""):
            return None, None
        return clean[-1]["code"], chosen

    async def capture(self, problem: Problem, code: str, attempt: Any) -> MemoryEntry | None:
        """Make, test and (if it earns it) promote a candidate skill from `code`."""
        entries = await asyncio.to_thread(self.store.entries, self.scope)
        skills = [e for e in entries if e.kind == "skill"]
        name = skill_function_name(self.domain.name, {skill_name(e) for e in skills})
        text = problem.text
        source = f"problem {problem.id} (run {self.run_id}, attempt {attempt.index})"
        try:
            body, _ = lift_script(code, text, name, self.domain.name, source)
        except SkillError as exc:
            if self.complete is None:
                raise
            body = await self._generalise(problem, code, name, exc)
        if any(" ".join(e.body.split()) == " ".join(body.split()) for e in skills):
            return None  # this very code was tried before
        _, fields = candidate(self.scope, body, Provenance(
            problem_id=problem.id, run_id=self.run_id, model=self.model, verdict=True,
            source="capture", note=f"captured from {source}"), name=name)
        entry = await asyncio.to_thread(self.store.add, reason=f"candidate skill from {source}",
                                        **fields)
        return await self.test_and_promote(entry, exclude=text)

    async def _generalise(self, problem: Problem, code: str, name: str, why: Exception) -> str:
        if self.complete is None:
            raise why  # no model to ask: the lifting error stands
        text = problem.text
        reply = await self.complete([{"role": "user", "content": GENERALISE_PROMPT.format(
            problem=text, code=code, name=name, numbers=skill_inputs(text, ["numbers"])["numbers"],
            text=text)}])
        body = code_block(reply or "")
        if body is None:
            raise SkillError(f"{why}; and the model's generalisation held no code block")
        body = only_definitions(body)
        parse_skill(body, name)
        return body

    # ---- testing, repair, promotion ----------------------------------------------------------
    async def test_and_promote(self, entry: MemoryEntry, exclude: str | None = None,
                               repairs: int | None = None) -> MemoryEntry:
        rounds = self.repairs if repairs is None else repairs
        cases = await asyncio.to_thread(self.test_problems, entry, exclude)
        if not cases:
            return await asyncio.to_thread(self.store.edit, entry.id, action="archive",
                                           status="archived",
                                           reason="no other problems of the domain to test it on")
        needed = min(self.m, len(cases))
        report = await self.test(entry, cases, needed=needed)
        for _ in range(rounds):
            if report.passed >= needed:
                break
            body = await self._ask_repair(entry, report)
            if body is None:  # an unusable reply (no code, the same code) spends its round
                continue
            trial = await self._try_fix(entry, body, cases, needed)
            if trial.passed <= report.passed:
                # A worse fix used to be kept and repaired further: the 1.5B model's repair of
                # a candidate passing 3 of 5 passed none, and the next round started from that.
                log.info("repair of %s not kept: %d of %d tests, was %d", entry.id,
                         trial.passed, trial.total, report.passed)
                continue
            entry = await self._keep_fix(
                entry, body, trial, f"repair after {report.passed} of {report.total} tests "
                                    f"passed: the fix passes {trial.passed}")
            report = trial
        if report.passed >= needed:
            return await asyncio.to_thread(
                self.store.edit, entry.id, action="promote", status="active",
                reason=f"promoted: passed {report.passed} of {report.total} tests")
        return await asyncio.to_thread(
            self.store.edit, entry.id, action="archive", status="archived",
            reason=(f"failed its tests ({report.passed} of {report.total} passed, {needed} of "
                    f"{len(cases)} needed) after {rounds} repair request(s)"))

    def test_problems(self, entry: MemoryEntry, exclude: str | None) -> list[Problem]:
        """k problems of the domain other than the one the skill came from: generated (seeded
        by the entry id, so a rerun tests the same ones), else earlier passed problems."""
        if getattr(self.domain, "can_generate", False):
            seed = self.seed + int(hashlib.sha256(entry.id.encode()).hexdigest()[:8], 16)
            made = self.domain.generate(self.k + 1, seed=seed)
            return [p for p in made if p.text != exclude][: self.k]
        past = self.store.problems(self.scope, passed_only=True)
        return [Problem(id=p.problem_id or f"past-{p.id}", input=p.problem)
                for p in reversed(past) if p.problem != exclude][: self.k]

    async def test(self, entry: MemoryEntry, cases: list[Problem], record: bool = True,
                   needed: int | None = None) -> TestReport:
        """Run the skill on each case in the snippet sandbox; the domain's checker judges.
        With `needed`, stop once that many passes are out of reach and a repair has its failing
        cases to see (a skill that loops costs its timeout per case). The results are recorded
        as `entry`'s trials unless `record` is False (a fix not yet kept has no version of its
        own)."""
        name, params = skill_name(entry), skill_params(entry)  # the code may not even parse
        limits = Limits(timeout_s=self.test_timeout_s, max_llm_calls=0, max_nested_runs=0,
                        output_bytes=64 * 1024)
        results, failures = [], []
        for problem in cases:
            inputs = skill_inputs(problem.text, params)
            output, error = "", None
            try:
                r = await self.sandbox.run(entry.body, entry=name, inputs=inputs,
                                           limits=limits)
                output = "" if r.value is None else str(r.value)
                error = r.error
                if r.limit_hit:
                    error = f"{r.limit_hit} limit hit" + (f": {r.error}" if r.error else "")
            except Exception as exc:  # the sandbox refused the job: this test failed
                error = f"{type(exc).__name__}: {exc}"
            passed = False
            if error is None:
                answer = self.domain.extract(output if "answer" in output.lower()
                                             else f"Answer: {output}")
                verdict = await self.domain.check(problem, answer)
                passed = verdict is not None and verdict.passed is True
                if not passed and found_nothing(answer):
                    # The checker's words about the text "None" misled the model's repairs
                    # (it "fixed" the characters); what happened is that nothing was found.
                    error = "it found no answer"  # what it returned is shown beside
                elif not passed:
                    error = verdict.feedback if verdict is not None else "no verdict"
            results.append((problem.id, passed, error))
            if not passed:
                failures.append({"problem": problem.text, "inputs": inputs,
                                 "output": output[:300], "error": (error or "")[:300]})
                if (needed is not None and len(failures) > len(cases) - needed
                        and len(failures) >= MAX_CASES_SHOWN):  # enough for a repair prompt
                    break
        if record:
            await asyncio.to_thread(record_trials, self.store.engine, entry, "test", results,
                                    self.run_id)
        return TestReport(sum(p for _, p, _ in results), len(results), failures, results)

    async def _ask_repair(self, entry: MemoryEntry, report: TestReport) -> str | None:
        """The model's fix of `entry` for the failures in `report` (None when unusable)."""
        if self.complete is None:
            return None
        sig = parse_skill(entry.body, skill_name(entry))
        cases = "\n".join(f"- problem {c['problem']!r}, called as {sig.name}("
                          f"{', '.join(f'{k}={v!r}' for k, v in c['inputs'].items())}): "
                          f"returned {c['output']!r}; {c['error']}"
                          for c in report.failures[:MAX_CASES_SHOWN])
        try:
            reply = await self.complete([{"role": "user", "content": REPAIR_PROMPT.format(
                code=entry.body, cases=cases, signature=sig.title)}],
                temperature=REPAIR_TEMPERATURE)
        except Exception as exc:  # a failed call is a failed repair, not a failed run
            log.info("skill repair call failed: %s", exc)
            return None
        body = code_block(reply or "")
        try:
            if body is None:
                raise SkillError("the reply held no code block")
            body = only_definitions(body)
            fixed = parse_skill(body, sig.name)
            if " ".join(body.split()) == " ".join(entry.body.split()):
                raise SkillError("the repair returned the same code")
            if fixed.params != sig.params:
                raise SkillError(f"the repair changed the parameters to {fixed.title}")
        except SkillError as exc:
            log.info("skill repair of %s unusable: %s", entry.id, exc)
            return None
        return body

    async def refine(self, entry: MemoryEntry, problem: Problem) -> MemoryEntry | None:
        """A promoted skill was used on `problem` and the answer failed: if the skill itself
        fails there, ask the model to fix it, showing that case and the skill's earlier failed
        uses it still fails on (one case alone gives little to generalise from). Up to
        `refine_samples` fixes are sampled; the first that solves the
        problem and still passes m of its k tests is kept. At most `refines` refinements a
        skill and a run, so a skill that keeps failing is demoted rather than rewritten
        forever; and none once the run has asked `refine_budget` samples without keeping a
        fix (a model that cannot fix its skills is not asked again and again)."""
        if self.complete is None or self._refined.get(entry.id, 0) >= self.refines:
            return None
        if self._refine_asked >= self.refine_budget and not self._refine_kept:
            log.info("skill %s not refined: %d samples in this run, none kept", entry.id,
                     self._refine_asked)
            return None
        self._refined[entry.id] = self._refined.get(entry.id, 0) + 1
        blind = Problem(id=problem.id, input=problem.input)  # the checker never sees a target
        earlier = await asyncio.to_thread(self._failed_uses, entry, problem)
        failing = await self.test(entry, [blind, *earlier], record=False)
        if failing.results[0][1]:
            return None  # the skill solves it: the attempt misused it
        cases = await asyncio.to_thread(self.test_problems, entry, problem.text)
        for _ in range(self.refine_samples):
            self._refine_asked += 1
            body = await self._ask_repair(entry, failing)  # each ask is a new sample
            if body is None:
                continue
            needed = min(self.m, len(cases))
            report = await self._try_fix(entry, body, [blind, *cases], needed + 1)
            if report.results[0][1] and report.passed - 1 >= needed:
                self._refine_kept += 1
                return await self._keep_fix(
                    entry, body, report, f"refined after failing on problem {problem.id}: the "
                                         f"fix solves it and passes {report.passed - 1} of "
                                         f"{len(cases)} tests")
            log.info("refinement of %s not kept: %d of %d passed", entry.id, report.passed,
                     report.total)
        return None

    async def _try_fix(self, entry: MemoryEntry, body: str, cases: list[Problem],
                       needed: int) -> TestReport:
        """`entry` with `body`, tested on `cases` and not recorded: a fix has no version yet."""
        return await self.test(entry.model_copy(update={"body": body}), cases, record=False,
                               needed=needed)

    async def _keep_fix(self, entry: MemoryEntry, body: str, report: TestReport,
                        reason: str) -> MemoryEntry:
        """`body` as `entry`'s new version (a `repair` event), with `report` as its tests."""
        fixed = await asyncio.to_thread(self.store.edit, entry.id, action="repair", body=body,
                                        reason=reason)
        await asyncio.to_thread(record_trials, self.store.engine, fixed, "test", report.results,
                                self.run_id)
        return fixed

    def _failed_uses(self, entry: MemoryEntry, problem: Problem) -> list[Problem]:
        """The problems (other than `problem`) on which uses of `entry` failed, most recent
        first, as the checker may see them (no targets), at most MAX_CASES_SHOWN - 1."""
        ids = [t["problem_id"] for t in reversed(trials(self.store.engine, entry.id))
               if t["trial"] == "use" and not t["passed"] and t["problem_id"] != problem.id]
        texts = {p.problem_id: p.problem for p in self.store.problems(self.scope)}
        found = [Problem(id=i, input=texts[i]) for i in dict.fromkeys(ids) if i in texts]
        return found[: MAX_CASES_SHOWN - 1]
