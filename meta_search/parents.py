"""Parent choice for the building-block space: a few parents, never the whole archive.

A tournament by validation fitness with a diversity term: each parent is the winner of a
seeded draw of `size` candidates, ranked by fitness plus `diversity` times its distance to the
parents already chosen (so a second parent differs from the first). Seeded by (seed,
generation), so a resumed run picks the same parents. Fitness is the validation median, or the
minibatch median for a candidate the cascade stopped early.
"""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from crib.agents.transcript_query import last_attempt_trace
from crib.meta_search.archive import Archive, Entry
from crib.meta_search.blocks import BlockConfig, config_of, distance

if TYPE_CHECKING:
    from crib.agents.domains.base import DomainProtocol

ParentMethod = Literal["tournament", "top-k"]
PARENT_METHODS: tuple[str, ...] = get_args(ParentMethod)


@dataclass(frozen=True)
class Parent:
    entry: Entry
    config: BlockConfig
    fitness: float


def fitness_of(entry: Entry) -> float | None:
    score = entry.score("validation")
    return score if score is not None else entry.score("minibatch")


def candidates(entries: list[Entry]) -> list[Parent]:
    """Scored, non-duplicate entries that carry a block configuration."""
    pool = []
    for e in entries:
        fit = fitness_of(e)
        if fit is None or e.duplicate_of is not None:
            continue
        config = config_of(e.code)
        if config is not None:
            pool.append(Parent(e, config, fit))
    return pool


def _rank(p: Parent, chosen: list[Parent], diversity: float) -> tuple[float, int]:
    """Fitness plus the diversity term (distance to the nearest parent already chosen)."""
    spread = min((distance(p.config, c.config) for c in chosen), default=0.0)
    return (p.fitness + diversity * spread, -p.entry.id)


def tournament(pool: list[Parent], k: int, generation: int, seed: int = 0, size: int = 3,
               diversity: float = 0.1) -> list[Parent]:
    """k distinct parents (fewer when the pool is smaller), best-ranked first."""
    rng = random.Random(seed * 1_000_003 + generation)
    chosen: list[Parent] = []
    left = sorted(pool, key=lambda p: p.entry.id)
    while left and len(chosen) < k:
        draw = rng.sample(left, min(size, len(left)))
        winner = max(draw, key=lambda p: _rank(p, chosen, diversity))
        chosen.append(winner)
        left.remove(winner)
    return chosen


def top_k(pool: list[Parent], k: int, diversity: float = 0.1) -> list[Parent]:
    """Greedy top-k by fitness plus the diversity term (deterministic)."""
    chosen: list[Parent] = []
    left = list(pool)
    while left and len(chosen) < k:
        winner = max(left, key=lambda p: _rank(p, chosen, diversity))
        chosen.append(winner)
        left.remove(winner)
    return chosen


def select_parents(entries: list[Entry], k: int, generation: int, *, method: str = "tournament",
                   seed: int = 0, diversity: float = 0.1) -> list[Parent]:
    pool = candidates(entries)
    if method == "top-k":
        return top_k(pool, k, diversity)
    return tournament(pool, k, generation, seed, diversity=diversity)


async def failures_of(archive: Archive, entry: Entry, problems: dict[str, Any],
                      domain: DomainProtocol,
                      limit: int = 3) -> list[dict]:
    """The parent's failed validation problems: task, answer, the checker's feedback (the
    target-free check, or the error the run ended with) and what the last attempt did (its
    last program and that program's output, or the end of its reply; None where no transcript
    was kept). GEPA's reflection reads traces, not answers alone: an answer of `None` says
    nothing of a search that built malformed expressions."""
    outcomes = archive.evaluations(entry.id, "validation")  # minibatch runs are in it too
    failed = []
    for o in outcomes.values():
        problem = problems.get(o.problem_id)
        if o.score >= 1.0 or problem is None:
            continue
        feedback = (o.error or "").strip().splitlines()[-1:] or [""]
        text = feedback[0]
        if not o.error and hasattr(domain, "check"):
            verdict = await domain.check(problem, o.answer)
            text = verdict.feedback if verdict is not None and verdict.feedback else ""
        trace = await asyncio.to_thread(last_attempt_trace, archive.engine, run_id=archive.run_id,
                                        problem_id=o.problem_id, agent_hash=entry.code_hash)
        failed.append({"task": str(problem.input), "answer": str(o.answer or "(no answer)"),
                       "feedback": text or "the answer was scored wrong", "trace": trace})
        if len(failed) >= limit:
            break
    return failed
