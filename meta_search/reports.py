"""Selection on validation, scoring on test (once) or on another domain/model, and the side by
side report. Selection never looks at test scores: the agent chosen is the validation leader.
"""
from __future__ import annotations

from typing import Sequence

from pydantic import BaseModel

from crib.agents.problems import Problem
from crib.meta_search.archive import Archive, Entry
from crib.meta_search.evaluate import Evaluator


class ReportRow(BaseModel):
    id: int
    name: str
    generation: int
    status: str
    val_median: float | None
    val_low: float | None
    val_high: float | None
    val_n: int | None
    other_split: str | None = None
    other_median: float | None = None
    other_low: float | None = None
    other_high: float | None = None
    other_n: int | None = None
    selected: bool = False


def select_top(archive: Archive, k: int) -> list[Entry]:
    """The top k by validation fitness (the first is the agent selected on validation)."""
    return archive.leaderboard("validation")[:k]


async def score_split(archive: Archive, evaluator: Evaluator, entries: Sequence[Entry],
                      problems: Sequence[Problem], split: str, seed: int = 0,
                      n_resamples: int = 10_000) -> None:
    """Score each entry on `problems` once; rerunning reuses what is recorded (no re-scoring)."""
    for entry in entries:
        outcomes = await evaluator.evaluate(entry, problems, split, use_memory=True)
        archive.set_fitness(entry.id, split, outcomes, seed, n_resamples)


def report(archive: Archive, split: str, k: int | None = None) -> list[ReportRow]:
    board = archive.leaderboard("validation")
    chosen = board[0].id if board else None
    rows = []
    for e in board[:k] if k else board:
        v, o = e.val, e.fitness.get(split)
        rows.append(ReportRow(
            id=e.id, name=e.name, generation=e.generation, status=e.status,
            val_median=v.median, val_low=v.ci_low, val_high=v.ci_high, val_n=v.n,
            other_split=split, other_median=o.median if o else None,
            other_low=o.ci_low if o else None, other_high=o.ci_high if o else None,
            other_n=o.n if o else None, selected=e.id == chosen))
    return rows
