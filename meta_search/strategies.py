"""How the meta-agent sees the archive: a strategy picks parents and renders a token-capped
view. `adas` shows the archive (best first, then newest) as ADAS does; `evolve` shows top-k
elites plus diverse parents with their scores and typical failures. Add more with
`register_strategy(name, cls)`.
"""
from __future__ import annotations

import json
import random
import re
from typing import Protocol

from pydantic import BaseModel

from crib.meta_search.archive import Archive, Entry
from crib.meta_search.parents import fitness_of
from crib.meta_search.records import EVALUATED, MINIBATCH


def approx_tokens(text: str) -> int:
    """~4 characters a token: good enough to cap a prompt without loading a tokenizer."""
    return len(text) // 4 + 1


class ArchiveView(BaseModel):
    text: str
    parents: list[int] = []
    shown: list[int] = []  # entry ids included in full


class Strategy(Protocol):
    name: str

    def view(self, archive: Archive, generation: int, token_budget: int) -> ArchiveView: ...


def fitness_text(e: Entry) -> str:
    parts = []
    for split in ("validation", "minibatch"):
        f = e.fitness.get(split)
        if f:
            parts.append(f"{split}: median {f.median:.3f}, 95% bootstrap CI "
                         f"({f.ci_low:.3f}, {f.ci_high:.3f}) over {f.n} problems")
            if f.cold is not None:
                parts.append(f"cold {f.cold:.3f} -> warm {f.warm:.3f}")
            break
    return "; ".join(parts) or "not scored"


def entry_json(e: Entry, failures: list[str] | None = None) -> str:
    obj = {"name": e.name, "generation": e.generation, "thought": e.thought, "code": e.code,
           "fitness": fitness_text(e)}
    if failures:
        obj["typical_failures"] = failures
    return json.dumps(obj, ensure_ascii=False, indent=1)


def failed_lines(entries: list[Entry], limit: int = 8) -> str:
    bad = [e for e in entries if e.status not in (EVALUATED, MINIBATCH) and e.reason][-limit:]
    if not bad:
        return ""
    lines = [f"- {e.name} (gen {e.generation}, {e.status}): {(e.reason or '')[:200]}"
             for e in bad]
    return "\nRecent candidates that failed (do not repeat their mistakes):\n" + "\n".join(lines)


def _fill(blocks: list[tuple[int, str]], budget: int, tail: str) -> ArchiveView:
    """Keep blocks in order while they fit the budget (always at least one)."""
    used = approx_tokens(tail)
    kept: list[tuple[int, str]] = []
    for entry_id, text in blocks:
        cost = approx_tokens(text)
        if kept and used + cost > budget:
            continue
        kept.append((entry_id, text))
        used += cost
    body = "[\n" + ",\n".join(t for _, t in kept) + "\n]" if kept else "(empty)"
    return ArchiveView(text=body + tail, shown=[i for i, _ in kept])


class AdasStrategy:
    """The ADAS view: every scored agent with its fitness, the best few first, then newest."""

    name = "adas"

    def __init__(self, best_first: int = 3):
        self.best_first = best_first

    def view(self, archive: Archive, generation: int, token_budget: int) -> ArchiveView:
        entries = archive.entries()
        scored = [e for e in entries if e.fitness and e.duplicate_of is None]
        best = sorted(scored, key=lambda e: -(fitness_of(e) or 0.0))
        head = best[: self.best_first]
        rest = sorted((e for e in scored if e not in head), key=lambda e: -e.id)
        blocks = [(e.id, entry_json(e)) for e in head + rest]
        view = _fill(blocks, token_budget, failed_lines(entries))
        view.parents = [e.id for e in head[:1]]
        return view


class EvolveStrategy:
    """Top-k elites plus diverse parents (least code overlap with the elites), seeded by the
    generation so a resumed run picks the same parents."""

    name = "evolve"

    def __init__(self, elites: int = 3, diverse: int = 2, seed: int = 0):
        self.elites, self.diverse, self.seed = elites, diverse, seed

    def view(self, archive: Archive, generation: int, token_budget: int) -> ArchiveView:
        entries = archive.entries()
        pool = [e for e in entries if e.fitness and e.duplicate_of is None]
        ranked = sorted(pool, key=lambda e: (-(fitness_of(e) or 0.0), e.id))
        elites = ranked[: self.elites]
        others = [e for e in ranked if e not in elites]
        rng = random.Random(self.seed * 1_000_003 + generation)
        rng.shuffle(others)  # ties in diversity broken by a seeded draw
        elite_words = set().union(*(_words(e.code) for e in elites)) if elites else set()
        others.sort(key=lambda e: _jaccard(_words(e.code), elite_words))
        parents = elites + others[: self.diverse]
        blocks = [(e.id, entry_json(e, typical_failures(archive, e))) for e in parents]
        intro = ("Parents for this generation: the best agents so far and diverse ones. "
                 "Combine or mutate their ideas, and fix their typical failures.\n")
        view = _fill(blocks, token_budget, failed_lines(entries))
        view.text = intro + view.text
        view.parents = [e.id for e in parents]
        return view


def typical_failures(archive: Archive, entry: Entry, limit: int = 3) -> list[str]:
    """The most frequent errors, then example wrong answers, on the entry's validation runs."""
    outcomes = list(archive.evaluations(entry.id, "validation").values())
    errors: dict[str, int] = {}
    wrong: list[str] = []
    for o in outcomes:
        if o.error:
            key = o.error.strip().splitlines()[-1][:160] if o.error.strip() else "error"
            errors[key] = errors.get(key, 0) + 1
        elif o.score < 1.0 and len(wrong) < limit:
            wrong.append(f"wrong answer {str(o.answer)[:80]!r} on problem {o.problem_id}")
    common = sorted(errors.items(), key=lambda kv: -kv[1])
    return ([f"{n}x error: {msg}" for msg, n in common] + wrong)[:limit]


def _words(code: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_]\w+", code))


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


STRATEGIES: dict[str, type] = {"adas": AdasStrategy, "evolve": EvolveStrategy}


def register_strategy(name: str, cls: type) -> None:
    STRATEGIES[name] = cls


def make_strategy(name: str, **kwargs) -> Strategy:
    try:
        return STRATEGIES[name](**kwargs)
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}")
