"""The per-problem loop: run the agent in the sandbox, verify, retry or sample more, score.

Policies (`LoopPolicy.kind`):
- `single`: one attempt.
- `retry`: up to `k` attempts; after a failed verdict (or a crashed attempt) the next attempt
  sees the task plus what the verifiers said about the earlier answers, and its calls that name
  no temperature sample at `sample_temperature`, so a greedy solver does not repeat its wrong
  answer. After a failed attempt that called a learned skill, the later attempts run without
  memory (no sheet, no skills): the model would call the same skill again. Stops at the first
  pass, and also when the verdict is unknown (no verifier could decide, so there is no
  feedback to act on and another round would only repeat the question).
- `best-of-n`: up to `n` attempts with distinct attempt indices (so distinct cache keys and
  distinct samples); keeps the best-verified answer. With `early_stop` (the default) it stops
  spending at the first pass, since a target-free verifier's pass is all the loop could hope
  for; `early_stop=False` always samples all n (for studies of the verifier itself).
- `vote`: `n` samples, the majority answer wins; the verifier-free baseline. Verifiers run only
  on the chosen answer, for the record; they never influence the choice.

The gold target is used only by `domain.score` for the final score; verifiers get the problem
with `target=None`. Every attempt is recorded (`agents/attempts.py`). Budgets: the policy's
per-problem `max_calls`/`max_tokens`; a run-wide `BudgetExceeded` propagates to stop the run.
"""
from __future__ import annotations

import asyncio
import inspect
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Literal

from pydantic import BaseModel, Field

# From its own light module: `from agents.llm import ...` in a function goes through the
# package's lazy __getattr__ and importlib on every call (≈0.25 ms a problem at 6 a problem).
from crib.agents.llm.errors import BudgetExceeded
from crib.agents.attempts import (Attempt, ModelBridge, Spend, Usage, attempt_id, clock_ms,
                             output_text, sandbox_error, save_attempts)
from crib.agents.problems import Problem
from crib.agents.prompt_sheet import PromptSheet, Sheet
from crib.agents.verdict import Verdict
from crib.agents.verify import (VerifyContext, Verifier, combine, default_verifiers, majority,
                           without_target)
from crib.agents.verify.base import SnippetRunner, clip
from crib.memory.skills import defines_skill, uses_skill
from crib.sandbox import Limits, Sandbox

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from crib.agents.domains.base import DomainProtocol
    from crib.agents.library import AgentSpec
    from crib.agents.llm import LLM
    from crib.agents.memory_hook import MemoryHook
    from crib.agents.transcripts import TranscriptStore

# A problem's error when its attempts ran but none gave an answer (the model's reply, not a
# failure of the agent's code).
NO_ANSWER = "no answer could be extracted from the agent's output"


class LoopPolicy(BaseModel):
    kind: Literal["single", "retry", "best-of-n", "vote"] = "single"
    k: int = Field(default=3, ge=1)  # retry: attempts in all
    n: int = Field(default=5, ge=1)  # best-of-n / vote: samples
    early_stop: bool = True  # best-of-n: stop at the first pass
    max_calls: int | None = Field(default=None, ge=1)  # per problem, all attempts together
    max_tokens: int | None = Field(default=None, ge=1)
    # best-of-n / vote, and retries after the first attempt: the temperature of model calls
    # that name none, so samples differ even when the solver role is configured greedy.
    sample_temperature: float | None = Field(default=0.7, ge=0.0)

    @property
    def max_attempts(self) -> int:
        return {"single": 1, "retry": self.k}.get(self.kind, self.n)


@dataclass
class SolveContext:
    llm: LLM
    sandbox: Sandbox | None  # None: crib's Context opened without one (agents cannot run)
    run_id: str | None = None
    memory: MemoryHook | None = None  # agents/memory_hook.py: the sheet and the counters
    engine: Engine | None = None  # attempts are recorded when given
    verifiers: list[Verifier] | None = None  # None: default_verifiers(domain)
    limits: Limits | None = None  # for agent runs (None: `agent_limits()`)
    extra: dict[str, Any] = field(default_factory=dict)


def transcript_of(ctx: SolveContext) -> TranscriptStore | None:
    """Where this attempt's sandbox runs, verdicts and memory go: the transcript store riding
    on the LLM as its call recorder (agents/transcripts.py), or None when nothing records."""
    recorder = getattr(ctx.llm, "recorder", None)
    return recorder if hasattr(recorder, "sandbox_run") else None


def agent_limits(timeout_s: float = 1800.0, cpu_s: int = 120, max_llm_calls: int = 60) -> Limits:
    """Limits of one agent run. The wall clock covers the model calls, so it is generous (a
    small local model on a busy CPU can take minutes per call; each call has its own timeout in
    the LLM layer), while the agent's own CPU time stays small: it mostly waits."""
    return Limits(timeout_s=timeout_s, cpu_s=cpu_s, max_llm_calls=max_llm_calls)


class ProblemOutcome(Usage):
    problem_id: str
    answer: Any = None
    score: float | None = None
    passed: bool | None = None
    verdicts: list[Verdict] = Field(default_factory=list)
    attempts: list[Attempt] = Field(default_factory=list)
    chosen_attempt: int | None = None
    error: str | None = None  # set only when no attempt produced an answer
    agent_name: str = ""
    policy: str = "single"
    cheatsheet_version: str | None = None
    notes: list[str] = Field(default_factory=list)


def retry_feedback(attempts: list[Attempt], skills: Iterable[str] = ()) -> str | None:
    """What the next attempt is told about the earlier ones (None when nothing to tell).
    `skills`: the ones the next attempt can still import."""
    lines = []
    for a in attempts:
        if a.error and a.answer is None:
            lines.append("Your previous attempt gave no answer "
                         f"({clip(a.error, 200)}). Follow the answer format.")
        elif a.passed is False:
            said = " ".join(v.feedback for v in a.verdicts if v.passed is False and v.feedback)
            lines.append(f"Your previous answer {clip(str(a.answer), 200)} was checked: "
                         f"{clip(said or 'it is wrong.', 400)}")
    # Shown a tested skill and its call on the problem, the 1.5B model wrote its own function
    # of that name around a guess, which hid the skill; nothing told it so.
    for name in rewritten_skills(attempts[-1], skills) if attempts else []:
        lines.append(f"Your program defined its own `{name}`, which hides the tested skill of "
                     f"that name. Do not write that function: `from skills import {name}` and "
                     "call it.")
    if not lines:
        return None
    return "\n".join(lines) + "\nTry again."


def called_skills(a: Attempt, skills: Iterable[str]) -> list[str]:
    """The names among `skills` that one of the attempt's run_python snippets called."""
    return [name for name in skills
            if any(uses_skill(s.get("code", ""), name) for s in a.snippets)]


def rewritten_skills(a: Attempt, skills: Iterable[str]) -> list[str]:
    """The names among `skills` that one of the attempt's snippets defined itself."""
    return [name for name in skills
            if any(defines_skill(s.get("code", ""), name) for s in a.snippets)]


def _rank(a: Attempt, prefer_late: bool) -> tuple:
    passed = {True: 2, None: 1, False: 0}[a.passed]
    return (a.answer is not None, passed, a.score if a.score is not None else -1.0,
            a.index if prefer_late else -a.index)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _answer_format(domain: Any, problem: Problem) -> str:
    fmt = getattr(domain, "answer_format", "")
    return str(fmt(problem) if callable(fmt) else fmt or "")


def render_task(domain: Any, problem: Problem) -> str:
    """The task text an agent is given for `problem`."""
    render = getattr(domain, "render", None)
    if callable(render):
        return render(problem)
    return problem.input if isinstance(problem.input, str) else str(problem.input)


class _Solver:
    """The state of one problem being solved (kept off the public API)."""

    def __init__(self, problem: Problem, domain: DomainProtocol, spec: AgentSpec,
                 ctx: SolveContext, policy: LoopPolicy, verifiers: list[Verifier]) -> None:
        self.problem, self.domain, self.spec, self.ctx, self.policy = (
            problem, domain, spec, ctx, policy)
        self.verifiers = verifiers
        self.blind = without_target(problem)
        self.spend = Spend()
        self.attempts: list[Attempt] = []
        self.task = render_task(domain, problem)
        self.fmt = _answer_format(domain, problem)
        self.sheet = Sheet()  # memory's, for this problem (a retry's may set skills aside)
        self.skills: dict[str, str] = {}  # promoted skills, importable in the sandbox
        self.set_aside_skills: set[str] = set()  # skills that gave this problem a wrong answer
        self.notes: list[str] = []

    def verify_context(self, a: Attempt, samples: list[Any]) -> VerifyContext:
        sandbox: SnippetRunner | None = self.ctx.sandbox
        transcript = transcript_of(self.ctx)
        if transcript is not None and self.ctx.sandbox is not None:  # the verifiers' runs too
            sandbox = transcript.recording(self.ctx.sandbox, self.ctx.run_id, a.id)
        return VerifyContext(domain=self.domain, task=self.task, raw_output=a.raw_output or "",
                             samples=samples, sandbox=sandbox, llm=self.ctx.llm,
                             run_id=self.ctx.run_id, attempt=a.index, attempt_id=a.id)

    async def verify(self, a: Attempt, verifiers: list[Verifier], samples: list[Any]) -> None:
        vctx = self.verify_context(a, samples)
        verdicts = []
        for v in verifiers:
            try:
                verdicts.append(await v.verify(self.blind, a.answer, vctx))
            except BudgetExceeded:
                raise
            except Exception as exc:  # a broken verifier is an unknown verdict, not a dead batch
                name = getattr(v, "name", type(v).__name__)
                verdicts.append(Verdict(passed=None, verifier=name, feedback=clip(
                    f"verifier {name} failed: {type(exc).__name__}: {exc}", 300)))
        transcript = transcript_of(self.ctx)
        if transcript is not None:
            transcript.verdicts(self.ctx.run_id, a.id, verdicts)
        kept = {v.verifier for v in verdicts}
        a.verdicts = [v for v in a.verdicts if v.verifier not in kept] + verdicts
        a.passed, a.score = combine(a.verdicts)
        a.calls += vctx.usage.calls
        a.tokens_in += vctx.usage.tokens_in
        a.tokens_out += vctx.usage.tokens_out
        a.cost_usd += vctx.usage.cost_usd

    def samples_differ(self, index: int) -> bool:
        """Whether this attempt's calls sample at the policy's temperature: every sample of
        best-of-n and vote, and a retry after the first attempt (a greedy solver shown its
        wrong answer tends to write the same thing again)."""
        kind = self.policy.kind
        return kind in ("best-of-n", "vote") or (kind == "retry" and index > 0)

    def budget_left(self) -> bool:
        p, s = self.policy, self.spend
        if p.max_calls is not None and s.calls >= p.max_calls:
            return False
        return not (p.max_tokens is not None and s.tokens_in + s.tokens_out >= p.max_tokens)

    async def attempt(self, index: int, feedback: str | None) -> Attempt:
        ctx, spec = self.ctx, self.spec
        aid = attempt_id(ctx.run_id, self.problem.id, spec.code_hash, self.policy.kind, index)
        a = Attempt(id=aid, run_id=ctx.run_id, problem_id=self.problem.id, agent_name=spec.name,
                    agent_hash=spec.code_hash, policy=self.policy.kind, index=index,
                    feedback_in=feedback,
                    cheatsheet_version=None if self.sheet.version is None
                    else str(self.sheet.version))
        bridge = ModelBridge(ctx.llm, run_id=ctx.run_id, attempt_id=aid, index=index,
                             problem_spend=self.spend, max_calls=self.policy.max_calls,
                             max_tokens=self.policy.max_tokens,
                             default_temperature=self.policy.sample_temperature
                             if self.samples_differ(index) else None,
                             sheet=PromptSheet(self.sheet))
        task = self.task if not feedback else f"{self.task}\n\n{feedback}"
        start = time.perf_counter()
        kwargs: dict[str, Any] = {"task": task, "answer_format": self.fmt,
                                  "cheatsheet": self.sheet.text, "rpc": bridge,
                                  "limits": ctx.limits if ctx.limits is not None
                                  else agent_limits()}
        if self.skills:
            kwargs["skills"] = self.skills
        transcript = transcript_of(ctx)
        if transcript is not None and (self.sheet.whole() or self.sheet.entry_ids):
            transcript.memory(ctx.run_id, aid, entry_ids=self.sheet.entry_ids,
                              cheatsheet=self.sheet.whole(), version=self.sheet.version)
        try:
            if ctx.sandbox is None:
                raise RuntimeError("this context has no sandbox to run agents in")
            result = await ctx.sandbox.run_agent(spec.program, **kwargs)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the sandbox itself failed: this attempt's error, not the run's
            result = None
            a.error = f"sandbox failed: {type(exc).__name__}: {exc}"
        if transcript is not None:
            transcript.sandbox_run(ctx.run_id, aid, code=spec.code, result=result, inputs=task)
            for snippet in getattr(result, "snippets", None) or []:  # its run_python calls
                transcript.sandbox_run(ctx.run_id, aid, code=snippet["code"], result=snippet,
                                       tier="snippet")
        if bridge.budget_error is not None:
            raise bridge.budget_error
        if result is not None:
            a.limit_hit = getattr(result, "limit_hit", None) or None
            a.snippets = list(getattr(result, "snippets", None) or [])
            # An agent that caught a failed call (a budget, an endpoint error) and still
            # returned normally has an answer: keep it.
            returned = (getattr(result, "error", None) is None
                        and getattr(result, "exit_code", None) == 0
                        and getattr(result, "value", None) is not None)
            a.error = None if returned else sandbox_error(result, bridge)
            if a.error is None:
                a.raw_output = output_text(getattr(result, "value", None))
                try:
                    a.answer = self.domain.extract(a.raw_output)
                except Exception as exc:
                    a.error = f"extracting the answer failed: {type(exc).__name__}: {exc}"
        a.calls, a.cached_calls = bridge.spend.calls, bridge.spend.cached_calls
        a.tokens_in, a.tokens_out = bridge.spend.tokens_in, bridge.spend.tokens_out
        a.cost_usd = bridge.spend.cost_usd
        a.memory_entry_ids = bridge.sheet.shown()
        a.wall_ms = clock_ms(start)
        return a

    async def set_aside(self, failed: list[str]) -> None:
        """Leave skills that gave a wrong answer out of this problem's later attempts: shown
        them again, the model calls them again. The other skills (alternatives, such as one
        learned from a problem this one failed on) and the rest of the sheet stay; with no
        skill left, the retry solves from scratch and may be captured as a new skill."""
        self.set_aside_skills.update(failed)
        self.skills = {n: c for n, c in self.skills.items() if n not in self.set_aside_skills}
        self.notes.append(f"skill {', '.join(failed)} set aside after a failed call"
                          + ("" if self.skills else ": later attempts without skills"))
        if self.ctx.memory is None:
            return
        try:
            self.sheet = await self.ctx.memory.prepare(self.problem,
                                                       set_aside=self.set_aside_skills)
        except BudgetExceeded:
            raise
        except Exception as exc:  # the skill is gone from the sandbox; its listing goes too
            self.sheet = Sheet()
            self.notes.append(f"memory prepare failed: {type(exc).__name__}: {exc}")

    def samples(self) -> list[Any]:
        return [a.answer for a in self.attempts if a.answer is not None]

    async def run(self) -> Attempt | None:
        """Make attempts per the policy; return the chosen one (None: no attempt made)."""
        kind = self.policy.kind
        for index in range(self.policy.max_attempts):
            if not self.budget_left():
                self.notes.append(f"per-problem budget spent after {index} attempt(s)")
                break
            feedback = (retry_feedback(self.attempts, self.skills) if kind == "retry"
                        else None)
            a = await self.attempt(index, feedback)
            self.attempts.append(a)
            if kind != "vote" and (a.answer is not None or a.error is None):
                await self.verify(a, self.verifiers, self.samples())
            self.spend.add(Spend(calls=a.calls, cached_calls=a.cached_calls, tokens_in=a.tokens_in,
                                 tokens_out=a.tokens_out, cost_usd=a.cost_usd))
            if kind == "single":
                break
            if kind == "retry" and (a.passed is True or (a.passed is None and a.error is None)):
                break
            if kind == "retry" and (failed := called_skills(a, self.skills)):
                await self.set_aside(failed)
            if kind == "best-of-n" and self.policy.early_stop and a.passed is True:
                break
        return await self.choose()

    async def choose(self) -> Attempt | None:
        if not self.attempts:
            return None
        kind = self.policy.kind
        if kind == "vote":
            answers = [a.answer for a in self.attempts]
            i, _votes, _total = majority(answers, self.domain)
            chosen = self.attempts[i] if i is not None else self.attempts[-1]
            if chosen.answer is not None:
                await self.verify(chosen, self.verifiers, self.samples())
            return chosen
        if kind == "best-of-n":  # agreement-type verdicts now see every sample
            late = [v for v in self.verifiers if getattr(v, "needs_samples", False)]
            if late and len(self.attempts) > 1:
                for a in self.attempts:
                    if a.answer is not None:
                        await self.verify(a, late, self.samples())
        return max(self.attempts, key=lambda a: _rank(a, prefer_late=kind == "retry"))


async def solve_problem(problem: Problem, domain: DomainProtocol, spec: AgentSpec,
                        ctx: SolveContext,
                        policy: LoopPolicy | None = None,
                        verifiers: list[Verifier] | None = None) -> ProblemOutcome:
    """Solve one problem; errors become the outcome's record, `BudgetExceeded` propagates."""
    policy = policy or LoopPolicy()
    if verifiers is None:
        verifiers = ctx.verifiers if ctx.verifiers is not None else default_verifiers(domain)
    start = time.perf_counter()
    try:
        s = _Solver(problem, domain, spec, ctx, policy, verifiers)
    except Exception as exc:  # the domain cannot render this problem: its error, not the batch's
        return ProblemOutcome(problem_id=problem.id, agent_name=spec.name, policy=policy.kind,
                              score=0.0, wall_ms=clock_ms(start),
                              error=f"cannot render the task: {type(exc).__name__}: {exc}")
    if ctx.memory is not None:
        try:
            s.sheet = await ctx.memory.prepare(problem)
            skills = getattr(ctx.memory, "skill_sources", None)  # optional on a MemoryHook
            s.skills = await asyncio.to_thread(skills) if skills is not None else {}
        except BudgetExceeded:
            raise
        except Exception as exc:  # no sheet is better than no answer
            s.notes.append(f"memory prepare failed: {type(exc).__name__}: {exc}")
    chosen = await s.run()
    out = ProblemOutcome(problem_id=problem.id, attempts=s.attempts, agent_name=spec.name,
                         policy=policy.kind, notes=s.notes,
                         cheatsheet_version=None if s.sheet.version is None
                         else str(s.sheet.version))
    for a in s.attempts:
        out.calls += a.calls
        out.cached_calls += a.cached_calls
        out.tokens_in += a.tokens_in
        out.tokens_out += a.tokens_out
        out.cost_usd += a.cost_usd
    if chosen is not None:
        out.chosen_attempt = chosen.index
        out.answer, out.passed, out.verdicts = chosen.answer, chosen.passed, chosen.verdicts
    if out.answer is None:
        errors = [a.error for a in s.attempts if a.error]
        out.error = errors[-1] if errors else (
            NO_ANSWER if s.attempts
            else "no attempt was made: " + "; ".join(s.notes))
    try:
        out.score = await _maybe_await(domain.score(problem, out.answer))
    except Exception as exc:
        out.notes.append(f"scoring failed: {type(exc).__name__}: {exc}")
        out.score = 0.0
    if ctx.engine is not None:
        await asyncio.to_thread(save_attempts, ctx.engine, s.attempts)
    out.wall_ms = clock_ms(start)
    if ctx.memory is not None:
        try:
            await ctx.memory.after(problem, out)
        except BudgetExceeded:
            raise
        except Exception as exc:
            out.notes.append(f"memory update failed: {type(exc).__name__}: {exc}")
    return out
