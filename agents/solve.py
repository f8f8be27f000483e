"""Batch solving: many problems through the per-problem loop, concurrently, and a summary.

Used by `crib solve` and by meta search to evaluate candidates. A fixed pool of workers pulls
problems in dataset order, so at most `concurrency` problems are in flight and memory modes see
problems start in order. An error in one problem is part of its outcome; only a spent budget
(`BudgetExceeded`) stops the batch, and what finished before it is kept by the caller.
"""
from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from crib.agents.executors import OutcomeSink
from crib.agents.learning_curve import LearningCurve
from crib.agents.llm.completion import LedgerSpend
from crib.agents.loop import LoopPolicy, ProblemOutcome, SolveContext, solve_problem
from crib.agents.problems import Problem
from crib.agents.stats import bootstrap_ci

if TYPE_CHECKING:
    from crib.agents.domains.base import DomainProtocol
    from crib.agents.library import AgentSpec


async def solve_batch(
    items: Sequence[tuple[int, Problem]],
    domain: DomainProtocol,
    spec: AgentSpec,
    ctx: SolveContext,
    policy: LoopPolicy,
    *,
    concurrency: int = 4,
    on_outcome: OutcomeSink | None = None,
) -> list[ProblemOutcome]:
    """Solve `(position, problem)` pairs; `on_outcome(position, outcome)` runs as each finishes.

    Returns the outcomes in the order they finished.
    """
    queue: asyncio.Queue[tuple[int, Problem]] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    finished: list[ProblemOutcome] = []

    async def worker() -> None:
        while True:
            try:
                position, problem = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            outcome = await solve_problem(problem, domain, spec, ctx, policy)
            finished.append(outcome)
            if on_outcome is not None:
                result = on_outcome(position, outcome)
                if inspect.isawaitable(result):
                    await result

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(concurrency, len(items))))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return finished


class Summary(BaseModel):
    """What `crib solve` reports: accuracy with a seeded 95% bootstrap interval, and spend."""

    run_id: str
    n: int
    scored: int
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    ci_seed: int
    verifier_pass_rate: float | None
    calls: int  # the model calls the agents made (ledger rows)
    requests: int = 0  # the requests those calls sent: retries included, none when cached
    cached_calls: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    wall_s: float
    errors: int
    skipped_lines: int = 0
    status: str = "done"
    learning: LearningCurve | None = None  # cold part vs warm part (agents/learning_curve.py)
    top_errors: list[list[Any]] = []  # [[reason, problems], ...], most frequent first
    stopped_because: str | None = None  # why a batch stopped early (every call failing)


def summarize(
    run_id: str,
    outcomes: Sequence[dict[str, Any]],
    spend: LedgerSpend,
    wall_s: float,
    seed: int = 0,
    skipped_lines: int = 0,
    status: str = "done",
) -> Summary:
    """Accuracy is the mean score over scorable problems; an errored problem scores 0."""
    scores = [float(o["score"] or 0.0) if o.get("error") is None else 0.0
              for o in outcomes if o.get("score") is not None or o.get("error") is not None]
    verified = [o["passed"] for o in outcomes if o.get("passed") is not None]
    accuracy = low = high = None
    if scores:
        accuracy, low, high = bootstrap_ci(scores, seed=seed, statistic="mean")
    return Summary(
        run_id=run_id,
        n=len(outcomes),
        scored=len(scores),
        accuracy=accuracy,
        ci_low=low,
        ci_high=high,
        ci_seed=seed,
        verifier_pass_rate=(sum(verified) / len(verified)) if verified else None,
        calls=spend.calls,
        requests=spend.requests,
        cached_calls=spend.cached_calls,
        tokens_in=spend.tokens_in,
        tokens_out=spend.tokens_out,
        cost_usd=round(spend.cost_usd, 6),
        wall_s=round(wall_s, 3),
        errors=sum(1 for o in outcomes if o.get("error")),
        skipped_lines=skipped_lines,
        status=status,
    )
