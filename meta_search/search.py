"""The search driver: seed the archive, then propose -> reflect -> cascade, generation by
generation, within budgets, resumable after any kill.

Resume is exact because every step is keyed in SQL: seeds by (generation 0, slot i), a
generation's candidate by (g, 0) (the proposal is replayed from the LLM cache when the kill
came before it was stored), evaluations by (entry, split, problem), and the generation cursor
advances only after the candidate has reached a final status. A spent budget (the LLM layer's
`BudgetExceeded`) stops the run cleanly with status `stopped`; resuming with a larger budget
continues where it stopped.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Literal, Protocol, Sequence

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session

from crib.agents.library import AgentSpec, list_agents, load_agent
from crib.agents.llm.errors import BudgetExceeded
from crib.agents.loop import LoopPolicy, render_task
from crib.agents.problems import Problem
from crib.agents.records import RunRow
from crib.agents.runs import base_manifest
from crib.agents.transcript_query import passed_reply
from crib.meta_search.archive import Archive, Entry
from crib.meta_search.blocks import MAX_EXAMPLES, Example, compile_agent, config_of, seed_config
from crib.meta_search.cascade import Cascade, CascadePolicy
from crib.meta_search.designer import Designer
from crib.meta_search.designer_prompt import result_of
from crib.meta_search.evaluate import Evaluator, MemoryFactory
from crib.meta_search.meta_agent import MetaAgent, ProposalError
from crib.meta_search.parents import ParentMethod, candidates, failures_of, select_parents
from crib.meta_search.records import BASELINE, REJECTED, TRAIN_SPLIT, SearchRunRow
from crib.meta_search.reports import best_seed, generation_rows
from crib.meta_search.skeletons import SKELETONS
from crib.meta_search.strategies import make_strategy

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from crib.agents.domains.base import DomainProtocol
    from crib.agents.executors import Executor
    from crib.agents.llm import LLM, LedgerSpend
    from crib.agents.loop import ProblemOutcome
    from crib.meta_search.meta_memory import MetaLessons
    from crib.sandbox import Sandbox


class SearchConfig(BaseModel):
    domain: str
    generations: int = Field(default=10, ge=0)
    val_size: int = Field(default=32, ge=1)
    val_seed: int = 0
    strategy: str = "adas"
    memory: str | None = None  # memory mode for memory-aware fitness (None/"none": off)
    meta_memory: bool = False
    seeds: list[str] | None = None  # seed agent names; None: the whole library
    cascade: CascadePolicy = CascadePolicy()
    loop: str = "single"
    archive_tokens: int = 3000  # the archive view in the meta prompt (fits 8k-context models)
    concurrency: int = 4
    executor: str = "local"
    reflections: int = 2
    # "code": the meta-agent writes agent code (strong designers); "blocks": a small designer
    # edits typed configurations of seed skeletons (see blocks.py, designer.py).
    space: Literal["code", "blocks"] = "code"
    designer_attempts: int = Field(default=3, ge=1)  # blocks: replies asked per generation
    designer_tokens: int = Field(default=2500, ge=300)  # blocks: the designer prompt's cap
    # blocks: the designer samples. At 0 (the models' default) the same parents gave the 1.5B
    # designer the same prompt and the same reply each generation: near-duplicates, rejected.
    designer_temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    parents: ParentMethod = "tournament"
    # blocks: move kinds to cycle through by generation (e.g. ["rewrite"] for GEPA-style
    # reflective rewrites only); None: a seeded draw (designer.MOVE_WEIGHTS).
    moves: list[Literal["rewrite", "change", "cross"]] | None = None
    # blocks: training problems (apart from validation and test) the best seed solves to
    # collect demonstrations: its checked replies, which a change may show before the task.
    demos: int = Field(default=0, ge=0)
    # ... each with best-of-n at this n (stopping at the first pass): one try finds few where
    # the seed rarely succeeds (Game of 24: 8% with one try, 36% with four).
    demo_samples: int = Field(default=1, ge=1)


class SearchObserver(Protocol):
    def stage(self, entry: Entry, stage: str) -> None: ...
    def outcome(self, entry: Entry, split: str, outcome: ProblemOutcome) -> None: ...
    def error(self, message: str) -> None: ...
    def generation(self, generation: int, total: int) -> None: ...
    def spend(self, spend: LedgerSpend) -> None: ...


class SearchResult(BaseModel):
    run_id: str
    status: str
    stop_reason: str | None = None
    generations_done: int
    best: dict | None = None
    spend: dict = {}
    # Per generation: proposals, how many passed the smoke run, unusable replies, the best
    # validation fitness so far, and spend (reports.GenerationRow).
    generations: list[dict] = []
    demonstrations: int = 0  # blocks with --demos: the solved examples a change may show


def create_run(engine, run_id: str, config: SearchConfig, manifest: dict | None = None) -> None:
    with Session(engine) as s, s.begin():
        if s.get(RunRow, run_id) is None:
            s.add(RunRow(id=run_id, mode="search", status="running",
                         manifest=base_manifest(search=config.model_dump(), **(manifest or {})),
                         summary={}))
        if s.get(SearchRunRow, run_id) is None:
            s.add(SearchRunRow(id=run_id, domain=config.domain, strategy=config.strategy,
                               config=config.model_dump(), status="running", seeded=0,
                               next_generation=1, spend={}))


def load_config(engine, run_id: str) -> SearchConfig:
    with Session(engine) as s:
        row = s.get(SearchRunRow, run_id)
        if row is None:
            raise KeyError(f"no search run {run_id!r} in this database")
        return SearchConfig(**row.config)


def update_config(engine, run_id: str, **changes: Any) -> dict:
    """Merge `changes` into the run's stored configuration; returns what is stored now."""
    with Session(engine) as s, s.begin():
        row = s.get(SearchRunRow, run_id)
        if row is None:
            raise KeyError(f"no search run {run_id!r} in this database")
        row.config = {**row.config, **changes}
        return row.config


def seed_specs(names: Sequence[str] | None, space: str = "code") -> list[AgentSpec]:
    """The seeds: library agents, or in the blocks space each skeleton's seed configuration
    compiled (ValueError names an unknown seed)."""
    if space == "blocks":
        unknown = [n for n in names or () if n not in SKELETONS]
        if unknown:
            raise ValueError(f"unknown skeleton(s) {', '.join(unknown)}; the blocks space has "
                             f"{', '.join(SKELETONS)}")
        return [AgentSpec(name=n, thought=SKELETONS[n].idea,
                          code=compile_agent(seed_config(n), SKELETONS[n].idea))
                for n in names or SKELETONS]
    return [load_agent(n) for n in names] if names else list_agents()


class Search:
    def __init__(self, *, engine: Engine, llm: LLM, sandbox: Sandbox | None,
                 domain: DomainProtocol, validation: Sequence[Problem], config: SearchConfig,
                 run_id: str, memory_factory: MemoryFactory | None = None,
                 lessons: MetaLessons | None = None, observer: SearchObserver | None = None,
                 executor: Executor | None = None, train: Sequence[Problem] = ()):
        self.engine, self.llm, self.domain = engine, llm, domain
        self.config, self.run_id = config, run_id
        self.archive = Archive(engine, run_id)
        self.observer = observer
        self.lessons = lessons  # MetaLessons or None
        memory_on = bool(config.memory and config.memory != "none")
        self.evaluator = Evaluator(
            self.archive, domain, llm, sandbox, policy=LoopPolicy(kind=config.loop),
            concurrency=config.concurrency, engine=engine, executor=executor,
            memory_factory=memory_factory if memory_on else None)
        self.meta = MetaAgent(llm, domain=config.domain,
                              domain_description=getattr(domain, "description", ""),
                              answer_format=str(getattr(domain, "answer_format", "") or ""),
                              run_id=run_id, reflections=config.reflections)
        self.designer: Designer | None = None
        if config.space == "blocks":
            self.designer = Designer(
                llm, domain=config.domain, domain_description=self.meta.domain_description,
                answer_format=self.meta.answer_format, run_id=run_id,
                attempts=config.designer_attempts, token_budget=config.designer_tokens,
                seed=config.cascade.seed, moves=config.moves,
                temperature=config.designer_temperature, memory=memory_on)
        self.validation = {p.id: p for p in validation}
        self.train = list(train)
        # Compiled configurations are not debugged as code: a failing one simply fails.
        self.cascade = Cascade(self.archive, self.evaluator,
                               None if self.designer else self.meta, validation,
                               config.cascade, memory_aware=memory_on)
        self.strategy = make_strategy(config.strategy)
        if observer is not None:
            self.cascade.on_stage = observer.stage
            self.evaluator.on_outcome = self._outcome
        self._outcomes_seen = 0

    def _outcome(self, entry: Entry, split: str, outcome: Any) -> None:
        """Forward to the observer; refresh live spend every few problems (one SQL query)."""
        if self.observer is None:  # wired only with an observer: nothing to forward to
            return
        self.observer.outcome(entry, split, outcome)
        self._outcomes_seen += 1
        if self._outcomes_seen % 4 == 0:
            self.observer.spend(self.llm.spend(self.run_id))

    async def run(self) -> SearchResult:
        self.archive.update_run(status="running", stop_reason=None)
        status, reason = "done", None
        try:
            await self._seed()
            if self.designer is not None and self.train:
                self.designer.examples = await self._examples()
            row = self.archive.require_run()
            for g in range(row.next_generation, self.config.generations + 1):
                if self.observer:
                    self.observer.generation(g, self.config.generations)
                await self._generation(g)
                self.archive.update_run(next_generation=g + 1, spend=self._spend(g))
        except BudgetExceeded as exc:
            status, reason = "stopped", str(exc)
            self._error(f"budget: {exc}")
        except ProposalError as exc:  # seeding, or no scored parent in the blocks space
            status, reason = "failed", str(exc)
            self._error(str(exc))
        except BaseException as exc:  # interrupted or crashed: resumable, say why
            interrupted = isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError))
            status = "stopped" if interrupted else "failed"
            reason = "interrupted" if interrupted else f"{type(exc).__name__}: {exc}"
            self.archive.update_run(status=status, stop_reason=reason, spend=self._spend())
            self._set_run_row(status)
            raise
        self.archive.update_run(status=status, stop_reason=reason, spend=self._spend())
        self._set_run_row(status)
        return self.result()

    def result(self) -> SearchResult:
        row = self.archive.require_run()
        best = self.archive.best()  # the validation leader: scored on validation
        return SearchResult(
            run_id=self.run_id, status=row.status, stop_reason=row.stop_reason,
            generations_done=row.next_generation - 1,
            best={"id": best.id, "name": best.name, "generation": best.generation,
                  **best.fitness["validation"].model_dump()} if best else None,
            spend=row.spend,
            generations=[r.model_dump() for r in generation_rows(self.archive)],
            demonstrations=len(self.designer.examples) if self.designer else 0)

    async def _seed(self) -> None:
        row = self.archive.require_run()
        if not row.seeded:
            for i, spec in enumerate(seed_specs(self.config.seeds, self.config.space)):
                self.archive.add_entry(generation=0, slot=i, origin="seed", name=spec.name,
                                       thought=spec.thought, code=spec.code)
            self.archive.update_run(seeded=1)
        for entry in self.archive.entries():
            if entry.generation == 0 and entry.origin != BASELINE:
                await self.cascade.run_seed(entry)
        self.archive.update_run(spend=self._spend())

    async def _examples(self) -> list[Example]:
        """The best seed's replies that solved training problems (checked, and right by the
        gold answer), the first MAX_EXAMPLES in the problems' order. The problems run a batch
        at a time, until there are enough. Resumed, the scored problems are not run again and
        the replies come from the transcripts."""
        seed = best_seed(self.archive)
        if seed is None:
            return []
        n = self.config.demo_samples
        policy = LoopPolicy(kind="best-of-n", n=n) if n > 1 else None
        batch = max(1, self.config.concurrency)
        examples: list[Example] = []
        solved = tried = 0
        for start in range(0, len(self.train), batch):
            problems = self.train[start:start + batch]
            scores = {o.problem_id: o.score for o in await self.evaluator.evaluate(
                seed, problems, TRAIN_SPLIT, start=start, policy=policy)}
            await self._flush_transcripts()
            tried += len(problems)
            for problem in problems:
                if scores.get(problem.id, 0.0) < 1.0:
                    continue
                solved += 1
                if len(examples) < MAX_EXAMPLES and (
                        example := await self._example(seed, problem)) is not None:
                    examples.append(example)
            if len(examples) == MAX_EXAMPLES:
                break
        if not examples:
            self._error(f"no demonstrations: {seed.name} solved {solved} of {tried} training "
                        "problems, and no reply of those was kept and short enough")
        return examples

    async def _example(self, seed: Entry, problem: Problem) -> Example | None:
        """The task as the seed saw it, and the last reply of its passing attempt."""
        reply = await asyncio.to_thread(passed_reply, self.engine, run_id=self.run_id,
                                        problem_id=problem.id, agent_hash=seed.code_hash)
        try:
            return Example(task=render_task(self.domain, problem), solution=(reply or "").strip())
        except ValidationError:  # too long to show, or no reply kept (transcripts off)
            return None

    async def _flush_transcripts(self) -> None:
        """Write the transcripts held in memory, before reading them back."""
        flush = getattr(getattr(self.llm, "recorder", None), "flush", None)
        if flush is not None:
            await asyncio.to_thread(flush)

    async def _generation(self, g: int) -> None:
        entry = self.archive.entry_at(g, 0)
        if entry is None:
            entry = await (self._design(g, self.designer) if self.designer
                           else self._propose(g))
            if entry is None:
                return
        if self.observer:
            self.observer.stage(entry, entry.stage)
        entry = await self.cascade.run(entry)
        if entry.status not in ("evaluated",) and entry.reason:
            self._error(f"gen {g} {entry.name}: {entry.status}: {entry.reason[:160]}")
        curated = any(h.get("step") == "lessons" for h in entry.history if isinstance(h, dict))
        if self.lessons is not None and not curated:  # once per generation, also on resume
            try:
                result = await self.lessons.curate(g, [entry])
                self.archive.note(entry.id, {"step": "lessons",
                                             "status": (result or {}).get("status")})
            except Exception as exc:  # noqa: BLE001 - lessons are advisory; budget still stops
                if isinstance(exc, BudgetExceeded):
                    raise
                self._error(f"meta-memory curation failed: {exc}")

    async def _propose(self, g: int) -> Entry | None:
        """The code space: the meta-agent writes a candidate (None: no usable proposal)."""
        view = self.strategy.view(self.archive, g, self.config.archive_tokens)
        lessons = self.lessons.render() if self.lessons else ""
        try:
            proposal, trace = await self.meta.propose(view.text, g, lessons)
        except ProposalError as exc:
            self._error(f"generation {g}: {exc}")
            self.archive.add_entry(
                generation=g, slot=0, origin="meta", name=f"gen{g}-unusable", thought="",
                code=f"# generation {g}: no usable proposal\n", parents=view.parents,
                status=REJECTED, reason=str(exc)[:2000])
            return None
        return self.archive.add_entry(
            generation=g, slot=0, origin="meta", name=proposal.name,
            thought=proposal.thought, code=proposal.code, parents=view.parents,
            history=trace)

    async def _design(self, g: int, designer: Designer) -> Entry | None:
        """The blocks space: parents by tournament (or a pending sweep's parent first), one
        designer move, compiled to code."""
        entries = self.archive.entries()
        parents = select_parents(entries, 2, g, method=self.config.parents,
                                 seed=self.config.cascade.seed)
        if not parents:
            raise ProposalError("no scored building-block agent to start from: the seeds "
                                "failed (see `crib archive list`)")
        # Named with how they scored: told only "near-duplicate of #7 (program-of-thought)",
        # the 1.5B designer proposed that same seed three times in a row.
        # A compute-matched baseline was scored on test only: the search has not tried it.
        archived = [(e.id, f"{e.name}, {result_of(e)}", c) for e in entries
                    if e.duplicate_of is None and e.origin != BASELINE
                    and (c := config_of(e.code)) is not None]
        # A change that gained is swept before the tournament's choice: drawn 3 of 10, the
        # Game of 24 run's best agent was parent A in 1 of the 4 generations after it.
        sweep = None
        if (pending := designer.pending_sweep(candidates(entries), archived)):
            chosen, sweep = pending
            parents = [chosen, *[p for p in parents if p.entry.id != chosen.entry.id]][:2]
        await self._flush_transcripts()  # the failures' traces are read from them
        failures = {p.entry.id: await failures_of(self.archive, p.entry, self.validation,
                                                  self.domain) for p in parents}
        tried = {p.entry.id: [(e, c) for e in entries if e.origin == "designer"
                              and e.parents[:1] == [p.entry.id] and (c := config_of(e.code))]
                 for p in parents}
        lessons = self.lessons.render() if self.lessons else ""
        design = await designer.design(g, parents, failures, archived, lessons, tried, sweep)
        parent_ids = [p.entry.id for p in design.parents]
        if design.config is None:
            reason = (f"no usable design after {len(design.trace)} replies: "
                      f"{design.rejected[-1]['reason']}")
            self._error(f"generation {g}: {reason}")
            self.archive.add_entry(
                generation=g, slot=0, origin="designer", name=f"gen{g}-unusable",
                thought="", code=f"# generation {g}: no usable design\n", parents=parent_ids,
                status=REJECTED, reason=reason[:2000], history=design.trace)
            return None
        try:
            code = design.code()
        except ValueError as exc:  # fewer demonstrations than when the run started
            raise ProposalError(f"generation {g}: {exc}: the training problems' transcripts "
                                "are gone (pruned with `crib runs gc`?)") from None
        return self.archive.add_entry(
            generation=g, slot=0, origin="designer", name=f"g{g}-{design.name}",
            thought=design.thought, code=code, parents=parent_ids, history=design.trace)

    def _spend(self, generation: int | None = None) -> dict:
        """The ledger's spend for the run by role, plus a per-generation history (for plots)."""
        spend = self.llm.spend(self.run_id)
        if self.observer:
            self.observer.spend(spend)
        history = list((self.archive.require_run().spend or {}).get("history", []))
        if generation is not None:
            best = self.archive.best()
            history = [h for h in history if h["generation"] != generation] + [{
                "generation": generation, "cost_usd": spend.cost_usd,
                "tokens": spend.tokens_in + spend.tokens_out,
                "best": best.score() if best else None}]
        return {"history": history, "calls": spend.calls, "cached_calls": spend.cached_calls,
                "tokens_in": spend.tokens_in, "tokens_out": spend.tokens_out,
                "cost_usd": spend.cost_usd,
                "by_role": {r: s.model_dump() for r, s in spend.by_role.items()}}

    def _set_run_row(self, status: str) -> None:
        with Session(self.engine) as s, s.begin():
            row = s.get(RunRow, self.run_id)
            if row is not None:
                row.status = status
                row.summary = self.result().model_dump()

    def _error(self, message: str) -> None:
        if self.observer:
            self.observer.error(message)
