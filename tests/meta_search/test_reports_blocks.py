"""The researcher's reports on a real SQLite archive: per-generation rows, and the selected
agent against the best seed on test (paired interval, break-even arithmetic) and against the
best seed given the same compute."""
import pytest

from crib.meta_search.archive import Archive, Outcome
from crib.meta_search.blocks import compile_agent, seed_config
from crib.meta_search.records import BASELINE
from crib.meta_search.reports import (best_seed, compare_with_seed, generation_rows,
                                      matched_baseline)
from crib.meta_search.search import create_run
from tests.meta_search.helpers import search_config


def _scored(archive, generation, name, val, test=None, tokens=100, status="evaluated",
            history=None):
    slot = sum(1 for e in archive.entries() if e.generation == generation)
    e = archive.add_entry(generation=generation, slot=slot, origin="seed" if not generation
                          else "designer", name=name, thought="", code=f"# {name}\n",
                          history=history)
    outs = [Outcome(problem_id=f"v{i}", score=s, tokens_in=tokens // 2,
                    tokens_out=tokens - tokens // 2) for i, s in enumerate(val)]
    for i, o in enumerate(outs):
        archive.record(e.id, "validation", i, o)
    archive.set_fitness(e.id, "validation", outs, seed=0, n_resamples=1000)
    for i, s in enumerate(test or []):
        archive.record(e.id, "test", i, Outcome(problem_id=f"t{i}", score=s,
                                                tokens_in=tokens // 2,
                                                tokens_out=tokens - tokens // 2))
    return archive.set_entry(e.id, status=status)


def test_selected_against_best_seed_with_break_even(engine):
    create_run(engine, "r", search_config())
    archive = Archive(engine, "r")
    _scored(archive, 0, "weak-seed", [0, 0, 0, 1], test=[0, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    _scored(archive, 0, "cot", [1, 0, 0, 1], test=[1, 0, 0, 0, 1, 0, 0, 0, 0, 0], tokens=200)
    _scored(archive, 1, "better", [1, 1, 0, 1], test=[1, 1, 1, 0, 1, 1, 0, 0, 0, 0],
            tokens=300, history=[{"reason": "near-duplicate of #2 (cot)"}])
    archive.update_run(spend={"tokens_in": 30_000, "tokens_out": 10_000, "history": [
        {"generation": 1, "tokens": 52_000, "cost_usd": 0.5, "best": 0.75}]})
    c = compare_with_seed(archive, "test", n_resamples=2000)
    assert c.selected.endswith(" better") and c.seed.endswith(" cot") and c.n == 10
    assert (c.selected_accuracy, c.seed_accuracy) == (0.5, 0.2)
    assert c.difference == pytest.approx(0.3) and c.diff_low <= 0.3 <= c.diff_high
    # A solve is worth the seed's 200 / 0.2 = 1000 tokens: 0.3 * 1000 - (300 - 200) = 200
    # tokens saved per problem, so 40 000 search tokens pay back after 200 problems.
    assert c.search_tokens == 40_000 and c.break_even_problems == pytest.approx(200)
    assert c.break_even_solved == pytest.approx(60)
    [row] = generation_rows(archive)
    assert (row.generation, row.proposals, row.passed_smoke, row.unusable_replies) == (1, 1, 1, 1)
    assert row.best_validation == 0.75 and row.tokens == 52_000


def test_no_break_even_when_the_gain_does_not_pay(engine):
    create_run(engine, "r2", search_config())
    archive = Archive(engine, "r2")
    _scored(archive, 0, "cot", [1, 0, 0, 0], test=[1, 0, 0, 0], tokens=100)
    _scored(archive, 1, "costly", [1, 1, 0, 0], test=[1, 1, 0, 0], tokens=1000)
    c = compare_with_seed(archive, "test", n_resamples=1000)
    assert c.difference == pytest.approx(0.25) and c.break_even_problems is None
    assert "never breaks even" in c.note
    archive_same = Archive(engine, "r2")
    assert compare_with_seed(archive_same, "validation", n_resamples=1000).n == 4


def test_compute_matched_baseline_is_the_seed_sampling_at_the_selected_agents_cost(engine):
    create_run(engine, "m", search_config())
    archive = Archive(engine, "m")
    seed = _scored(archive, 0, "cot", [1, 0, 0, 0], test=[1, 0, 0, 0], tokens=100)
    _scored(archive, 1, "costly", [1, 1, 0, 0], test=[1, 1, 1, 0], tokens=250)
    # The search ran the retry loop: a seed sample has no clear price, so no baseline.
    assert "single loop" in matched_baseline(archive, "test", "retry")
    entry, n = matched_baseline(archive, "test", "single")
    assert n == 3  # 250 / 100 tokens per problem, rounded up
    assert (entry.origin, entry.name, entry.generation, entry.parents) == (
        BASELINE, "cot+best-of-3", 0, [seed.id])
    assert entry.code.startswith("# Compute-matched baseline: ") and entry.code.endswith(
        seed.code)
    assert matched_baseline(archive, "test", "single")[0].id == entry.id  # a rerun resumes it
    assert best_seed(archive).id == seed.id and "validation" not in entry.fitness
    for i, s in enumerate([1, 1, 0, 0]):
        archive.record(entry.id, "test", i, Outcome(problem_id=f"t{i}", score=s, tokens_in=150,
                                                     tokens_out=50))
    c = compare_with_seed(archive, "test", n_resamples=1000, matched=(entry, n))
    m = c.matched
    assert (m.samples, m.n, m.selected_accuracy, m.accuracy) == (3, 4, 0.75, 0.5)
    assert m.difference == pytest.approx(0.25) and m.tokens_per_problem == 200 and not m.note


def test_no_baseline_when_the_selected_agent_is_no_dearer(engine):
    create_run(engine, "m2", search_config())
    archive = Archive(engine, "m2")
    _scored(archive, 0, "cot", [1, 0, 0, 0], test=[1, 0, 0, 0], tokens=100)
    _scored(archive, 1, "cheap", [1, 1, 0, 0], test=[1, 1, 0, 0], tokens=100)
    why = matched_baseline(archive, "test", "single")
    assert why == "the selected agent spends no more tokens than the best seed"
    c = compare_with_seed(archive, "test", n_resamples=1000, matched=why)
    assert c.matched is None and c.matched_note == f"no compute-matched baseline: {why}"
    assert [e.origin for e in archive.entries()] == ["seed", "designer"]


def test_selected_agent_that_is_the_seed_sampling_more_is_its_own_baseline(engine):
    create_run(engine, "m3", search_config())
    archive = Archive(engine, "m3")
    cot = seed_config("cot")
    seed = archive.add_entry(generation=0, slot=0, origin="seed", name="cot", thought="",
                             code=compile_agent(cot))
    chosen = archive.add_entry(generation=1, slot=0, origin="designer", name="cot-bon",
                               thought="", code=compile_agent(cot.model_copy(
                                   update={"loop": "best-of-n"})))
    for e, val, test, tokens in ((seed, [1, 0], [1, 0, 0, 0], 100),
                                 (chosen, [1, 1], [1, 1, 1, 0], 450)):
        outs = [Outcome(problem_id=f"v{i}", score=s) for i, s in enumerate(val)]
        for i, o in enumerate(outs):
            archive.record(e.id, "validation", i, o)
        archive.set_fitness(e.id, "validation", outs, seed=0, n_resamples=1000)
        for i, s in enumerate(test):
            archive.record(e.id, "test", i, Outcome(problem_id=f"t{i}", score=s,
                                                    tokens_in=tokens, tokens_out=0))
    entry, n = matched_baseline(archive, "test", "single")
    assert (entry.id, n) == (chosen.id, 5)  # best-of-n's default n: the same agent
    m = compare_with_seed(archive, "test", n_resamples=1000, matched=(entry, n)).matched
    assert m.difference == 0 and "whole gain is what sampling with the checker buys" in m.note
