"""What `crib solve` shows of a run's learning curve (agents/learning_curve.py): the cold part
against the warm part, and the compute-matched baseline `--ablate` adds."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

MATCHED = "none+best-of-n"  # the label of the compute-matched baseline


def _interval(value: float | None, low: float | None, high: float | None, pct: bool = False,
              digits: int = 1) -> str:
    if value is None:
        return "—"
    if low is None or high is None:  # no interval (a part with no solved problem)
        return f"{100 * value:.{digits}f}%" if pct else f"{value:,.{digits}f}"
    if pct:
        return f"{100 * value:.{digits}f}% ({100 * low:.0f}–{100 * high:.0f})"
    return f"{value:,.{digits}f} ({low:,.{digits}f}–{high:,.{digits}f})"


def learning_table(rows: list[tuple[str, Any]], title: str = "Learning curve"):
    """Cold and warm rows per run: accuracy, calls and tokens per solved problem, each with
    its 95% bootstrap interval."""
    from rich.table import Table

    from crib.cliutil import esc

    table = Table(title=title)
    for col in ("", "part", "problems", "accuracy (95% CI)", "calls / solved", "tokens / solved"):
        table.add_column(col, justify="left" if col in ("", "part") else "right")
    for label, summary in rows:
        curve = summary.learning
        if curve is None:
            continue
        for name, part in (("cold", curve.cold), ("warm", curve.warm)):
            if part is None:
                continue
            table.add_row(esc(label), name, f"{part.first}–{part.last}",  # a run id: as written
                          _interval(part.accuracy, part.accuracy_low, part.accuracy_high, True),
                          _interval(part.calls_per_solved, part.calls_per_solved_low,
                                    part.calls_per_solved_high, digits=2),
                          _interval(part.tokens_per_solved, part.tokens_per_solved_low,
                                    part.tokens_per_solved_high, digits=0))
    return table


def matched_samples(memory_run: Any, plain_run: Any) -> int:
    """n for best-of-n without memory given the memory run's mean calls per problem (all its
    calls, the curator's and skill repairs' included) and the plain run's calls per attempt."""
    per_problem = memory_run.calls / memory_run.n if memory_run.n else 0.0
    per_attempt = plain_run.learning.calls_per_attempt() if plain_run.learning else None
    return max(1, math.ceil(per_problem / (per_attempt or 1.0)))


def matched_options(opts: Any, memory_run: Any, plain_run: Any) -> Any:
    """The compute-matched baseline's options: --memory none --loop best-of-n -n N."""
    return replace(opts, memory="none", loop="best-of-n", n=matched_samples(memory_run, plain_run),
                   scope=f"{opts.scope or opts.domain}-ablate-matched")
