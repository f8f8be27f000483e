"""Selection on validation, scoring on test (once) or on another domain/model, and the side by
side report. Selection never looks at test scores: the agent chosen is the validation leader.
"""
from __future__ import annotations

import math
from typing import Sequence

from pydantic import BaseModel

from crib.agents.loop import LoopPolicy
from crib.agents.problems import Problem
from crib.agents.stats import bootstrap_ci
from crib.meta_search.archive import Archive, Entry
from crib.meta_search.blocks import compile_agent, config_of
from crib.meta_search.evaluate import Evaluator
from crib.meta_search.records import BASELINE, EVALUATED, MINIBATCH, PROPOSED


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
        # The validation leaderboard holds only entries scored on validation.
        v, o = e.fitness["validation"], e.fitness.get(split)
        rows.append(ReportRow(
            id=e.id, name=e.name, generation=e.generation, status=e.status,
            val_median=v.median, val_low=v.ci_low, val_high=v.ci_high, val_n=v.n,
            other_split=split, other_median=o.median if o else None,
            other_low=o.ci_low if o else None, other_high=o.ci_high if o else None,
            other_n=o.n if o else None, selected=e.id == chosen))
    return rows


class GenerationRow(BaseModel):
    """One generation of a search, as a researcher reads it."""

    generation: int
    proposals: int  # candidates that reached the cascade
    passed_smoke: int
    unusable_replies: int  # designer/meta replies rejected (invalid, truncated, near-duplicate)
    best_validation: float | None  # the best validation median after this generation
    tokens: int | None  # spent during this generation (all roles)
    cost_usd: float | None

    @property
    def smoke_share(self) -> float | None:
        return self.passed_smoke / self.proposals if self.proposals else None


def _passed_smoke(e: Entry) -> bool:
    return e.status in (EVALUATED, MINIBATCH) or (
        e.status == PROPOSED and e.stage in ("minibatch", "validation"))


def generation_rows(archive: Archive) -> list[GenerationRow]:
    entries = archive.entries()
    history = {h["generation"]: h for h in (archive.require_run().spend or {}).get("history", [])}
    rows, best, previous = [], None, (0, 0.0)
    for e in entries:
        if e.generation == 0 and e.val is not None:
            best = max(best if best is not None else e.val.median, e.val.median)
    for g in sorted({e.generation for e in entries if e.generation > 0}):
        mine = [e for e in entries if e.generation == g]
        proposals = [e for e in mine if not e.name.endswith("-unusable")]
        for e in mine:
            if e.val is not None:
                best = max(best if best is not None else e.val.median, e.val.median)
        unusable = sum(1 for e in mine for h in e.history
                       if isinstance(h, dict) and h.get("reason"))
        unusable += sum(1 for e in mine if e.name.endswith("-unusable") and not e.history)
        h = history.get(g)
        tokens = cost = None
        if h is not None:
            tokens, cost = h["tokens"] - previous[0], h["cost_usd"] - previous[1]
            previous = (h["tokens"], h["cost_usd"])
        rows.append(GenerationRow(
            generation=g, proposals=len(proposals),
            passed_smoke=sum(1 for e in proposals if _passed_smoke(e)),
            unusable_replies=unusable, best_validation=best, tokens=tokens, cost_usd=cost))
    return rows


BASELINE_SLOT = 1000  # + n: its slot in generation 0, clear of the seeds' slots
MAX_MATCHED_SAMPLES = 10


class MatchedBaseline(BaseModel):
    """The best seed given the selected agent's compute: the best-of-n loop (the checker picks
    among n samples), n = the selected agent's tokens per problem over the seed's, rounded up.
    What the search adds beyond sampling more is the selected agent's lead over this one."""

    agent: str
    samples: int
    n: int  # problems both it and the selected agent were scored on
    selected_accuracy: float  # on those problems
    accuracy: float
    tokens_per_problem: float
    difference: float  # the selected agent's accuracy minus this one's
    diff_low: float
    diff_high: float
    note: str = ""


class SeedComparison(BaseModel):
    """The agent selected on validation against the best seed (by validation), on `split`."""

    split: str
    selected: str
    seed: str
    n: int  # problems both were scored on
    selected_accuracy: float
    seed_accuracy: float
    difference: float
    diff_low: float
    diff_high: float
    search_tokens: int
    selected_tokens_per_problem: float
    seed_tokens_per_problem: float
    break_even_problems: float | None = None
    break_even_solved: float | None = None  # extra problems solved by then
    note: str = ""
    matched: MatchedBaseline | None = None
    matched_note: str = ""  # why there is no compute-matched baseline


def best_seed(archive: Archive) -> Entry | None:
    seeds = [e for e in archive.leaderboard("validation") if e.generation == 0]
    return seeds[0] if seeds else None


def _shared(a: dict, b: dict) -> list[str]:
    return [pid for pid in a if pid in b]


def _tokens_per_problem(outcomes: dict, shared: list[str]) -> float:
    return sum(outcomes[p].tokens_in + outcomes[p].tokens_out for p in shared) / len(shared)


def _accuracy(outcomes: dict, shared: list[str]) -> float:
    return sum(outcomes[p].score for p in shared) / len(shared)


def _selected_and_seed(archive: Archive, split: str
                       ) -> tuple[Entry, Entry, dict, dict, list[str]] | None:
    """The agent selected on validation, the best seed, their outcomes on `split` and the
    problems both were scored on; None when either is missing or they share no problem."""
    chosen, base = archive.best(), best_seed(archive)
    if chosen is None or base is None:
        return None
    a, b = archive.evaluations(chosen.id, split), archive.evaluations(base.id, split)
    shared = _shared(a, b)
    return (chosen, base, a, b, shared) if shared else None


def matched_baseline(archive: Archive, split: str, loop: str) -> tuple[Entry, int] | str:
    """The best seed with the best-of-n loop at the selected agent's compute on `split`, as an
    archive entry (origin `baseline`, never run as a seed) and its n; or why there is none.

    n prices a sample at the seed's tokens per problem, which is exact when the seed runs the
    single loop (`loop`: the search's, for code that carries no configuration). When the
    selected agent is that very configuration at that n, it is returned itself."""
    pair = _selected_and_seed(archive, split)
    if pair is None:
        return f"the selected agent and the best seed share no problem scored on {split}"
    chosen, base, a, b, shared = pair
    if chosen.id == base.id:
        return "the selected agent is the best seed"
    config = config_of(base.code)
    if (config.loop if config else loop) != "single":
        return "the best seed does not run the single loop, so a sample has no clear price"
    seed_tokens = _tokens_per_problem(b, shared)
    n = math.ceil(_tokens_per_problem(a, shared) / seed_tokens) if seed_tokens else 0
    if n < 2:
        return "the selected agent spends no more tokens than the best seed"
    n = min(n, MAX_MATCHED_SAMPLES)
    if config is not None:
        matched = config.model_copy(update={"loop": "best-of-n"})
        if config_of(chosen.code) == matched and n == LoopPolicy().n:
            return chosen, n
        code = compile_agent(matched, base.thought)
    else:
        code = base.code
    header = f"# Compute-matched baseline: #{base.id} {base.name} with the best-of-n loop, n={n}.\n"
    entry = archive.add_entry(
        generation=0, slot=BASELINE_SLOT + n, origin=BASELINE, name=f"{base.name}+best-of-{n}",
        thought=f"The best seed with the best-of-n loop (n={n}): the selected agent's compute "
                "spent on sampling more.", code=header + code, parents=[base.id],
        status=EVALUATED)
    return entry, n


def compare_with_seed(archive: Archive, split: str, seed: int = 0,
                      n_resamples: int = 10_000,
                      matched: tuple[Entry, int] | str | None = None) -> SeedComparison | None:
    """Accuracy difference (paired bootstrap 95% interval over the shared problems) and the
    break-even point: a solved problem is worth what the best seed spends per solved problem,
    and the selected agent must earn back the search's tokens plus its own extra tokens per
    problem. With `matched` (what `matched_baseline` gave), the selected agent also against the
    compute-matched baseline. None when either agent lacks scores on `split`."""
    pair = _selected_and_seed(archive, split)
    if pair is None:
        return None
    chosen, base, a, b, shared = pair
    diffs = [a[p].score - b[p].score for p in shared]
    diff, low, high = bootstrap_ci(diffs, seed=seed, n_resamples=n_resamples, statistic="mean")
    acc_a, acc_b = _accuracy(a, shared), _accuracy(b, shared)
    tok_a, tok_b = _tokens_per_problem(a, shared), _tokens_per_problem(b, shared)
    spend = archive.require_run().spend or {}
    search_tokens = int(spend.get("tokens_in", 0) + spend.get("tokens_out", 0))
    out = SeedComparison(split=split, selected=f"#{chosen.id} {chosen.name}",
                         seed=f"#{base.id} {base.name}", n=len(shared),
                         selected_accuracy=acc_a, seed_accuracy=acc_b, difference=diff,
                         diff_low=low, diff_high=high, search_tokens=search_tokens,
                         selected_tokens_per_problem=tok_a, seed_tokens_per_problem=tok_b)
    if chosen.id == base.id:
        out.note = "the selected agent is the best seed: the search found nothing better"
    elif acc_b <= 0:
        out.note = "no break-even point: the seed solved none, so a solve has no token price"
    else:
        saving = (acc_a - acc_b) * tok_b / acc_b - (tok_a - tok_b)  # tokens per problem
        if saving <= 0:
            out.note = "never breaks even: the gain does not pay for the extra tokens"
        else:
            out.break_even_problems = search_tokens / saving
            out.break_even_solved = out.break_even_problems * (acc_a - acc_b)
    if isinstance(matched, str):
        out.matched_note = f"no compute-matched baseline: {matched}"
    elif matched is not None:
        out.matched = _against_matched(archive, chosen, a, *matched, split, seed, n_resamples)
    return out


def _against_matched(archive: Archive, chosen: Entry, a: dict, entry: Entry, samples: int,
                     split: str, seed: int, n_resamples: int) -> MatchedBaseline | None:
    m = archive.evaluations(entry.id, split)
    shared = _shared(a, m)
    if not shared:
        return None
    diff, low, high = bootstrap_ci([a[p].score - m[p].score for p in shared], seed=seed,
                                   n_resamples=n_resamples, statistic="mean")
    return MatchedBaseline(
        agent=f"#{entry.id} {entry.name}", samples=samples, n=len(shared),
        selected_accuracy=_accuracy(a, shared), accuracy=_accuracy(m, shared),
        tokens_per_problem=_tokens_per_problem(m, shared), difference=diff, diff_low=low,
        diff_high=high,
        note="the selected agent is the best seed with the best-of-n loop at this n: its whole "
             "gain is what sampling with the checker buys" if entry.id == chosen.id else "")
