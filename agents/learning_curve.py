"""The learning curve of a run: the cold part (the first `cold_size` problems, in dataset
order, where memory is still empty or nearly so) against the warm part (the rest, which can
use what was learned), with accuracy, calls and tokens per solved problem, each with a seeded
95% bootstrap interval over the part's problems (agents/stats.py).

"Solved" is the problem's score (1 for a correct answer; a partial score counts in part), an
errored problem scores 0. Calls and tokens are the solver's (the problem's attempts); the
curator's calls are the run's, not a problem's: the summary's totals hold them.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from pydantic import BaseModel

from crib.agents.stats import _linear_quantile, bootstrap_ci

COLD_SIZE = 10
N_RESAMPLES = 10_000


class Part(BaseModel):
    """One part of a run (cold or warm)."""

    first: int  # 1-based positions in dataset order, inclusive
    last: int
    n: int
    solved: float
    accuracy: float | None
    accuracy_low: float | None
    accuracy_high: float | None
    calls: int
    tokens: int
    attempts: int
    calls_per_solved: float | None
    calls_per_solved_low: float | None
    calls_per_solved_high: float | None
    tokens_per_solved: float | None
    tokens_per_solved_low: float | None
    tokens_per_solved_high: float | None


class LearningCurve(BaseModel):
    cold_size: int
    seed: int
    cold: Part | None
    warm: Part | None

    def calls_per_attempt(self) -> float | None:
        parts = [p for p in (self.cold, self.warm) if p is not None]
        attempts = sum(p.attempts for p in parts)
        return sum(p.calls for p in parts) / attempts if attempts else None


def _score(o: dict[str, Any]) -> float:
    return 0.0 if o.get("error") is not None else float(o.get("score") or 0.0)


def ratio_ci(costs: Sequence[float], solved: Sequence[float], seed: int,
             n_resamples: int = N_RESAMPLES) -> tuple[float | None, float | None, float | None]:
    """(sum(costs) / sum(solved), low, high): a percentile bootstrap over problems, resampling
    cost and score together. Resamples that solved nothing have no ratio and are left out
    (None when none of them solved anything)."""
    c, s = np.asarray(costs, dtype=float), np.asarray(solved, dtype=float)
    if s.sum() <= 0:
        return None, None, None
    value = float(c.sum() / s.sum())
    if c.size < 2:
        return value, value, value
    idx = np.random.default_rng(seed).integers(0, c.size, (n_resamples, c.size))
    sums = s[idx].sum(axis=1)
    theta = np.sort(c[idx].sum(axis=1)[sums > 0] / sums[sums > 0])
    return value, _linear_quantile(theta, 0.025), _linear_quantile(theta, 0.975)


def part(outcomes: list[dict[str, Any]], first: int, seed: int) -> Part | None:
    if not outcomes:
        return None
    scores = [_score(o) for o in outcomes]
    calls = [int(o.get("calls") or 0) for o in outcomes]
    tokens = [int(o.get("tokens_in") or 0) + int(o.get("tokens_out") or 0) for o in outcomes]
    acc, low, high = bootstrap_ci(scores, seed=seed, statistic="mean")
    cps = ratio_ci(calls, scores, seed)
    tps = ratio_ci(tokens, scores, seed)
    return Part(first=first, last=first + len(outcomes) - 1, n=len(outcomes), solved=sum(scores),
                accuracy=acc, accuracy_low=low, accuracy_high=high, calls=sum(calls),
                tokens=sum(tokens), attempts=sum(len(o.get("attempts") or []) for o in outcomes),
                calls_per_solved=cps[0], calls_per_solved_low=cps[1],
                calls_per_solved_high=cps[2], tokens_per_solved=tps[0],
                tokens_per_solved_low=tps[1], tokens_per_solved_high=tps[2])


def learning_curve(outcomes: Sequence[dict[str, Any]], order: Sequence[str] | None = None,
                   cold_size: int = COLD_SIZE, seed: int = 0) -> LearningCurve:
    """Cold (the first `cold_size` problems of `order`, the dataset's problem ids) and warm
    (the rest) parts of a run's outcome records (outcomes of problems not in `order` go
    last). Without `order` the outcomes are taken as given."""
    rank = {pid: i for i, pid in enumerate(order or [])}
    ordered = sorted(outcomes, key=lambda o: rank.get(o.get("problem_id") or "", len(rank))) \
        if order is not None else list(outcomes)
    cold, warm = ordered[:cold_size], ordered[cold_size:]
    return LearningCurve(cold_size=cold_size, seed=seed, cold=part(cold, 1, seed),
                         warm=part(warm, cold_size + 1, seed))
