"""Validation and test problems of a search, disjoint and reproducible.

Generated domains: one seeded draw of val_size + test_size problems, split by position, so the
test split never overlaps validation. Datasets: a seeded shuffle of the file, split the same
way. The search stores (file, seed, sizes) so `crib search test RUN` rebuilds the same split.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from crib.agents.problems import Problem


class SplitError(Exception):
    pass


def make_splits(domain: Any, val_size: int, test_size: int, seed: int = 0,
                file: str | Path | None = None) -> tuple[list[Problem], list[Problem]]:
    total = val_size + test_size
    if file is not None:
        problems = list(domain.load(file).problems)
        random.Random(seed).shuffle(problems)
    elif getattr(domain, "can_generate", False):
        problems = list(domain.generate(total, seed=seed))
    else:
        raise SplitError(f"domain {domain.name!r} cannot generate problems: pass --file DATASET")
    seen: set[str] = set()
    unique = []
    for p in problems:  # the first problem of each id, in order
        if p.id not in seen:
            seen.add(p.id)
            unique.append(p)
    if len(unique) < val_size + min(test_size, 1):
        raise SplitError(f"need at least {val_size + min(test_size, 1)} distinct problems for "
                         f"validation ({val_size}) and test, got {len(unique)}")
    return unique[:val_size], unique[val_size:total]
