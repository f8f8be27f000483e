"""One `crib solve` run, apart from the command line: problems in, outcomes out, resumable.

SQL holds the truth (run manifest, one result row per problem); the `--out` JSONL file is
rewritten from SQL when a run resumes and then appended to as each problem finishes, so a kill
at any moment loses nothing that finished and counts nothing twice.
"""
from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from crib.agents.llm.errors import LLMError
from crib.agents.llm.sql_writer import SqlWriter
from crib.agents.runs import RunStore, base_manifest, new_run_id, result_write
from crib.memory.mode_names import SKILL_MODES

if TYPE_CHECKING:  # the layers load when a run starts, not at CLI start
    from crib.agents.executors import Executor
    from crib.agents.loop import ProblemOutcome
    from crib.context import Context

FLUSH_WAIT_S = 60.0  # at the end of a run, for result writes still queued


class SolveError(Exception):
    """A problem with the run's set-up (bad dataset, unknown agent, unknown run): said plainly."""


@dataclass
class SolveOptions:
    domain: str
    file: Path | None = None
    agent: str = "cot"
    loop: str = "single"
    k: int = 3
    n: int = 5
    memory: str = "none"
    scope: str | None = None
    concurrency: int = 4
    limit: int | None = None
    seed: int = 0
    cold: int = 10  # the learning curve's cold part: the first `cold` problems
    out: Path | None = None
    input_field: str = "input"
    target_field: str = "target"
    on_bad_line: str = "stop"  # or "skip"
    loop_from_agent: bool = False  # `loop` is the one the agent file carries (compiled agents)

    def manifest(self) -> dict[str, Any]:
        data = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}
        if self.file is not None:
            data["file"] = str(Path(self.file).resolve())
        return data

    @classmethod
    def from_manifest(cls, data: dict[str, Any]) -> "SolveOptions":
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("file", "out"):
            if fields.get(key):
                fields[key] = Path(fields[key])
        return cls(**fields)


@dataclass
class LoadedProblems:
    problems: list[Any]
    skipped_lines: list[str] = field(default_factory=list)


def load_problems_for(opts: SolveOptions, domain: Any) -> LoadedProblems:
    """The run's problems: from FILE (with the domain's reading rules) or generated, seeded."""
    from crib.agents.domains.base import DomainError
    from crib.agents.problems import DatasetLoadError

    if opts.file is not None:
        if Path(opts.file).is_dir():
            raise SolveError(f"dataset {opts.file} is a directory; give a JSONL or CSV file")
        if not Path(opts.file).is_file():
            raise SolveError(f"dataset file {opts.file} does not exist")
        try:
            loaded = domain.load(opts.file, input_field=opts.input_field,
                                 target_field=opts.target_field, on_error=opts.on_bad_line)
        except DatasetLoadError as exc:
            hint = ("\n(use --skip-bad-lines to record them and go on)"
                    if any(e.line > 0 for e in exc.errors) else "")
            raise SolveError(f"{exc}{hint}") from exc
        problems, skipped = loaded.problems, [str(e) for e in loaded.errors]
        if not problems:  # a 0-problem run would "succeed" and hide the mistake
            raise SolveError(f"dataset {opts.file} holds no problems"
                             + (f" ({len(skipped)} bad lines skipped)" if skipped else ""))
    else:
        try:
            problems = domain.generate(opts.limit or 100, seed=opts.seed)
        except DomainError as exc:
            raise SolveError(str(exc)) from exc
        skipped = []
    if opts.limit is not None:
        problems = problems[: opts.limit]
    return LoadedProblems(problems, skipped)


class OutFile:
    """The `--out` JSONL: one line per finished problem. Lines are appended once the
    problem's result row is committed and reach the disk with `sync()` (flush and fsync),
    which the SQL writer calls once for all the lines of a group commit, before any of
    their problems is reported done."""

    def __init__(self, path: Path | None, existing: list[dict[str, Any]]) -> None:
        self.path = path
        self.handle = None
        self.lock = threading.Lock()
        if path is None:
            return
        if path.is_dir():  # checked first: os.replace would fail and leave the .tmp behind
            raise SolveError(f"--out {path} is a directory; give a file name")
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("w") as f:
                for outcome in existing:
                    f.write(json.dumps(outcome, ensure_ascii=False, default=str) + "\n")
            os.replace(tmp, path)
            self.handle = path.open("a")
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise SolveError(f"cannot write --out {path}: {exc.strerror or exc}") from exc

    def append(self, outcome: dict[str, Any]) -> None:
        """Append one line to the buffer (from any thread: whole lines, never interleaved)."""
        line = json.dumps(outcome, ensure_ascii=False, default=str) + "\n"
        with self.lock:
            if self.handle is not None:
                self.handle.write(line)

    def sync(self) -> None:
        """Every appended line written and fsynced."""
        with self.lock:
            if self.handle is not None:
                self.handle.flush()
                os.fsync(self.handle.fileno())

    def close(self) -> None:
        with self.lock:
            if self.handle is not None:
                self.handle.close()
                self.handle = None


Progress = Callable[[dict[str, Any], list[dict[str, Any]]], None]


async def run_solve(
    ctx: Context,
    opts: SolveOptions,
    *,
    run_id: str | None = None,
    resume: bool = False,
    retry_errors: bool = False,
    on_start: Callable[[str, int, int], None] | None = None,
    on_progress: Progress | None = None,
    executor: Executor | None = None,
):
    """Solve (or finish) a run and return its Summary. `ctx` is a crib.context.Context;
    `executor` (agents.executors) is where the problems run (default: this process).
    The run is locked while this works on it (crib/run_lock.py): a second process resuming
    it gets a SolveError."""
    from crib.run_lock import RunLock, RunLocked

    store = RunStore(ctx.engine)
    if resume and not run_id:
        raise SolveError("resuming needs the id of the run (see the run ids printed by crib solve)")
    if resume and run_id and store.get(run_id) is None:
        raise SolveError(f"no run {run_id!r} to resume (see the run ids printed by crib solve)")
    run_id = run_id or new_run_id("solve")
    lock = RunLock(ctx.engine, run_id)
    try:
        lock.acquire()
    except RunLocked as exc:
        raise SolveError(str(exc)) from None
    try:
        return await _run_locked(ctx, opts, store, run_id=run_id, resume=resume,
                                 retry_errors=retry_errors, on_start=on_start,
                                 on_progress=on_progress, executor=executor)
    finally:
        lock.release()


async def _run_locked(ctx, opts: SolveOptions, store: RunStore, *, run_id: str, resume: bool,
                      retry_errors: bool, on_start, on_progress, executor):
    from crib.agents.executors import LocalExecutor
    from crib.agents.library import load_agent
    from crib.agents.loop import LoopPolicy, SolveContext
    from crib.agents.learning_curve import learning_curve
    from crib.agents.solve import summarize
    from crib.solve_failures import FailureWatch, top_errors

    executor = executor or LocalExecutor()
    row = None
    if resume:
        row = store.get(run_id)
        if row is None:  # checked before the lock: only a concurrent delete gets here
            raise SolveError(f"no run {run_id!r} to resume")
        opts = SolveOptions.from_manifest(row.manifest["options"])
        if retry_errors:
            store.forget_errors(run_id)
        store.set_status(run_id, "running")
    try:
        domain = ctx.domain(opts.domain)
    except KeyError as exc:
        raise SolveError(str(exc)) from exc
    loaded = load_problems_for(opts, domain)
    try:
        spec = load_agent(opts.agent)
    except (KeyError, FileNotFoundError, ValueError) as exc:
        raise SolveError(f"agent {opts.agent!r}: {exc}") from exc
    if executor.name == "local":  # the model client, ready before the run is recorded
        ctx.llm.want_in_flight(opts.concurrency)  # --concurrency: calls in flight too (or warn)
        try:
            ctx.llm.prepare()  # its imports now, not on the batch's first call
        except LLMError as exc:  # e.g. a provider whose package is not installed
            raise SolveError(str(exc)) from None
    if not resume:
        store.create(run_id, "solve", base_manifest(
            options=opts.manifest(), agent={"name": spec.name, "code_hash": spec.code_hash},
            models=ctx.model_manifest(), skipped_lines=loaded.skipped_lines,
            executor=executor.name))
    ctx.llm.run_id = run_id
    if executor.name == "local":  # every call of the run is made here: keep its spend in memory
        ctx.llm.track(run_id)

    done = store.results(run_id)
    done_ids = {o["problem_id"] for o in done}
    todo = [(i, p) for i, p in enumerate(loaded.problems) if p.id not in done_ids]
    out = OutFile(opts.out, done)
    if on_start:
        on_start(run_id, len(loaded.problems), len(done))

    memory = (ctx.memory_hook(opts.memory, opts.scope or opts.domain, run_id)
              if opts.memory != "none" else None)
    if memory is not None and opts.memory in SKILL_MODES:
        from crib.agents.skills import SkillLoop

        memory.skills = SkillLoop(
            ctx.memory_store, opts.scope or opts.domain, domain, ctx.sandbox,
            complete=ctx.llm.completer("curator", run_id=run_id), run_id=run_id,
            model=getattr(ctx.llm.role("curator"), "model", None), seed=opts.seed)
    # Locally, a problem's attempts are written with its result (one transaction, below);
    # elsewhere (Ray) the workers write them.
    local = executor.name == "local"
    solve_ctx = SolveContext(llm=ctx.llm, sandbox=ctx.sandbox, run_id=run_id, memory=memory,
                             engine=None if local else ctx.engine, limits=ctx.agent_limits())
    policy = LoopPolicy(kind=opts.loop, k=opts.k, n=opts.n)
    outcomes = list(done)
    started = time.monotonic()
    status = "done"
    watch = FailureWatch.for_concurrency(opts.concurrency, probe=_endpoint_probe(ctx))

    # Results go through the LLM layer's SQL writer thread (its own if the LLM has none):
    # one transaction for what finished meanwhile, ledger rows included, instead of a
    # transaction (and a thread hop) per problem contending for SQLite's write lock.
    writer = getattr(ctx.llm, "writer", None)
    if writer is None or writer.engine is not ctx.engine:
        writer = SqlWriter(ctx.engine)
    writing = out.handle is not None
    in_flight: set[Future] = set()
    batch: asyncio.Future | None = None

    async def finished(position: int, outcome: ProblemOutcome) -> None:
        record = outcome.model_dump(mode="json")
        # Committed (the problem counts as done for --resume), then its JSONL line is
        # appended and fsynced with the group's others; only then is it reported done.
        future = writer.submit(
            result_write(run_id, position, record, outcome.attempts if local else None,
                         replace=resume),  # a new run holds no earlier rows to replace
            after=(lambda _: out.append(record)) if writing else None,
            sync=out.sync if writing else None)
        in_flight.add(future)
        # Shielded: a cancelled batch (Ctrl-C) still commits what finished (waited for below).
        await asyncio.shield(asyncio.wrap_future(future))
        in_flight.discard(future)
        outcomes.append(record)
        if on_progress:
            on_progress(record, outcomes)
        if await watch.check(record) and batch is not None:
            batch.cancel()  # every model call fails (the same way): the rest would too

    stalls = None
    try:
        batch = asyncio.ensure_future(executor.run(
            todo, domain, spec, solve_ctx, policy, concurrency=opts.concurrency,
            on_outcome=finished))
        stalls = asyncio.ensure_future(watch.watch_stalls(_stall_s(ctx), batch.cancel))
        try:
            await batch
        except asyncio.CancelledError:
            me = asyncio.current_task()  # never None inside a coroutine
            if not watch.tripped or me is None or me.cancelling():
                raise
            status = "stopped"
    except BaseException as exc:
        status = "stopped" if type(exc).__name__ == "BudgetExceeded" else "interrupted"
        store.set_status(run_id, status)
        raise
    finally:
        # Results of problems that finished before a stop are committed (and their lines
        # written) before the file closes.
        for task in (batch, stalls):
            if task is not None and not task.done():
                task.cancel()
        wait_futures(list(in_flight), timeout=FLUSH_WAIT_S)
        out.close()
    prior_wall = (row.summary or {}).get("wall_s", 0.0) if row is not None else 0.0
    summary = summarize(run_id, outcomes, ctx.llm.spend(run_id),
                        prior_wall + time.monotonic() - started, seed=opts.seed,
                        skipped_lines=len(loaded.skipped_lines), status=status)
    summary.top_errors = top_errors(outcomes)
    summary.learning = learning_curve(outcomes, [p.id for p in loaded.problems],
                                      cold_size=opts.cold, seed=opts.seed)
    if watch.tripped:
        summary.stopped_because = watch.why()
    store.set_status(run_id, status, summary.model_dump())
    return summary


def _stall_s(ctx: Context) -> float:
    """How long no problem may finish before the endpoints are probed: STALL_S, or half the
    shortest call timeout when that is shorter (short timeouts ask for quick answers)."""
    from crib.solve_failures import STALL_S

    timeouts = [s.timeout_s for s in (getattr(ctx, "roles", None) or {}).values() if s.timeout_s]
    return min([STALL_S, *(t / 2 for t in timeouts)])


def _endpoint_probe(ctx: Context):
    """What FailureWatch calls after a failed model call: the run's endpoints checked again
    (crib/endpoints.py); why they are unusable, or None."""
    async def probe() -> str | None:
        from crib.config import ConfigError
        from crib.endpoints import check_endpoints

        try:
            await check_endpoints(getattr(ctx, "roles", None) or {})
        except ConfigError as exc:
            return str(exc)
        return None
    return probe
