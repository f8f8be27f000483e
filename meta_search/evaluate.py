"""Evaluating an archive entry on problems: each problem once, recorded as it finishes.

Problems already recorded for (entry, split) are skipped, so a resumed run pays for nothing
twice. With memory-aware fitness the entry gets its own fresh memory scope and problems run one
at a time in order, so the cheatsheet learns across them (cold = first half, warm = second).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from crib.agents.executors import Executor, LocalExecutor
from crib.agents.library import AgentSpec
from crib.agents.loop import LoopPolicy, ProblemOutcome, SolveContext
from crib.agents.problems import Problem
from crib.meta_search.archive import Archive, Entry, Outcome
from crib.meta_search.blocks import config_of

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from crib.agents.domains.base import DomainProtocol
    from crib.agents.llm import LLM
    from crib.agents.memory_hook import MemoryHook
    from crib.sandbox import Limits, Sandbox

# scope name -> its memory hook; built by the caller (crib wiring).
MemoryFactory = Callable[[str], "MemoryHook"]


def to_outcome(o: ProblemOutcome) -> Outcome:
    """An errored or unscorable problem scores 0: failures count against the agent."""
    answer = o.answer if o.answer is None or isinstance(o.answer, str) else str(o.answer)
    return Outcome(problem_id=o.problem_id, score=float(o.score or 0.0) if not o.error else 0.0,
                   answer=answer, calls=o.calls, tokens_in=o.tokens_in, tokens_out=o.tokens_out,
                   cost_usd=o.cost_usd, wall_ms=o.wall_ms, error=o.error)


def spec_of(entry: Entry) -> AgentSpec:
    return AgentSpec(name=entry.name, thought=entry.thought, code=entry.code,
                     parents=[str(p) for p in entry.parents], generation=entry.generation,
                     source=f"archive:{entry.run_id}#{entry.id}")


class Evaluator:
    def __init__(self, archive: Archive, domain: DomainProtocol, llm: LLM,
                 sandbox: Sandbox | None, *, policy: LoopPolicy | None = None,
                 concurrency: int = 4, memory_factory: MemoryFactory | None = None,
                 engine: Engine | None = None, executor: Executor | None = None,
                 limits: Limits | None = None):
        self.archive = archive
        self.domain = domain
        self.llm = llm
        self.sandbox = sandbox
        self.policy = policy or LoopPolicy(kind="single")
        self.concurrency = concurrency
        self.memory_factory = memory_factory
        self.engine = engine
        self.executor = executor or LocalExecutor()
        self.limits = limits
        self.on_outcome: Callable[[Entry, str, Outcome], None] | None = None  # dashboard

    def policy_for(self, entry: Entry) -> LoopPolicy:
        """A building-block candidate carries its own loop policy; other code gets the run's."""
        config = config_of(entry.code)
        return self.policy if config is None else self.policy.model_copy(
            update={"kind": config.loop})

    def memory_scope(self, entry: Entry) -> str:
        return f"search:{entry.run_id}:entry{entry.id}"

    async def evaluate(self, entry: Entry, problems: Sequence[Problem], split: str, *,
                       start: int = 0, use_memory: bool = True,
                       policy: LoopPolicy | None = None) -> list[Outcome]:
        """Outcomes of `entry` on `problems` (positions start, start+1, ...), in that order;
        under `policy` when given, else the entry's own."""
        done = self.archive.evaluations(entry.id, split)
        todo = [(start + i, p) for i, p in enumerate(problems) if p.id not in done]
        memory = None
        if use_memory and self.memory_factory is not None:
            memory = self.memory_factory(self.memory_scope(entry))
        if todo:
            ctx = SolveContext(llm=self.llm, sandbox=self.sandbox, run_id=self.archive.run_id,
                               memory=memory, engine=self.engine, limits=self.limits)

            def record(position: int, outcome: ProblemOutcome) -> None:
                out = to_outcome(outcome)
                self.archive.record(entry.id, split, position, out)
                done[out.problem_id] = out
                if self.on_outcome:
                    self.on_outcome(entry, split, out)

            # Memory learns in order: one problem at a time.
            concurrency = 1 if memory is not None else self.concurrency
            await self.executor.run(todo, self.domain, spec_of(entry), ctx,
                                    policy or self.policy_for(entry),
                                    concurrency=concurrency, on_outcome=record)
        return [done[p.id] for p in problems if p.id in done]
