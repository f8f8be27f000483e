"""Validation and test problems of a search, disjoint and reproducible.

Generated domains: one seeded draw of val_size + test_size problems, split by position, so the
test split never overlaps validation. Datasets: a seeded shuffle of the file, split the same
way. The search stores (file, seed, sizes) so `crib search test RUN` rebuilds the same split.
Training problems (where demonstrations come from) are drawn apart, with another seed, and
leave out every validation and test problem.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Collection

from crib.agents.problems import Problem


class SplitError(Exception):
    pass


def _draw(domain: Any, count: int, seed: int, file: str | Path | None) -> list[Problem]:
    """The file shuffled with `seed`, or `count` generated problems."""
    if file is not None:
        problems = list(domain.load(file).problems)
        random.Random(seed).shuffle(problems)
        return problems
    if getattr(domain, "can_generate", False):
        return list(domain.generate(count, seed=seed))
    raise SplitError(f"domain {domain.name!r} cannot generate problems: pass --file DATASET")


def _unique(problems: list[Problem], skip: Collection[str] = ()) -> list[Problem]:
    """The first problem of each id, in order, leaving out the ids in `skip`."""
    seen, out = set(skip), []
    for p in problems:
        if p.id not in seen:
            seen.add(p.id)
            out.append(p)
    return out


def make_splits(domain: Any, val_size: int, test_size: int, seed: int = 0,
                file: str | Path | None = None) -> tuple[list[Problem], list[Problem]]:
    total = val_size + test_size
    unique = _unique(_draw(domain, total, seed, file))
    if len(unique) < val_size + min(test_size, 1):
        raise SplitError(f"need at least {val_size + min(test_size, 1)} distinct problems for "
                         f"validation ({val_size}) and test, got {len(unique)}")
    return unique[:val_size], unique[val_size:total]


def train_split(domain: Any, n: int, exclude: Collection[Problem], seed: int = 0,
                file: str | Path | None = None) -> list[Problem]:
    """Up to n problems that are none of `exclude` (the validation and test problems), by id
    or by input (another seed's draw may repeat a problem under another id), from a draw of
    their own (seed + 2: the transfer split uses seed + 1)."""
    if n <= 0:
        return []
    inputs = {str(p.input) for p in exclude}
    drawn = _unique(_draw(domain, n + len(exclude), seed + 2, file), {p.id for p in exclude})
    return [p for p in drawn if str(p.input) not in inputs][:n]
