"""The registry and the rules every domain keeps: checkers never read the target, nasty
replies never crash extraction or scoring."""

from __future__ import annotations

import pytest

from crib.agents.domains import DOMAINS, Domain, UnknownDomain, get_domain
from crib.agents.problems import Problem
from crib.agents.verdict import Verdict

NASTY = ["", "   ", "Ωmega ∑ 😀 ×÷", "x" * 300_000, "Answer: " + "9" * 10_000,
         "```python\nimport os\n```", "\\boxed{", "[[[[", "Answer: \x00\x01",
         "Answer: 1e999999999", "Answer: 9**9**9**9", "Answer: 10**10**10", None]


class PoisonedTarget:
    """A target that fails loudly on any use: a target-free checker must never touch it."""

    def __getattribute__(self, name):
        raise AssertionError(f"the checker read the target ({name})")


def sample_problem(name: str) -> Problem:
    domain = get_domain(name)
    if domain.can_generate:
        return domain.generate(1, seed=0)[0]
    inputs = {"math-numeric": ("2+2?", "4"), "multiple-choice": ("Q\n(A) 1\n(B) 2", "(B)"),
              "arc": ({"train": [{"input": [[1]], "output": [[2]]}], "test_input": [[[1]]]},
                      [[[2]]]),
              "drop": ("Passage: p\nQuestion: q", ["p"]), "free": ("hello", None)}
    inp, target = inputs[name]
    return Problem(id=f"{name}-1", input=inp, target=target)


def test_registry_names_and_lookup():
    assert DOMAINS == ("game24", "equation-balancer", "math-numeric", "multiple-choice",
                       "code-synthesis", "arc", "drop", "free")
    for name in DOMAINS:
        d = get_domain(name)
        assert isinstance(d, Domain) and d.name == name and d.description
        assert d.answer_format or name == "free"
    assert get_domain("Equation_Balancer").name == "equation-balancer"
    with pytest.raises(UnknownDomain, match="unknown domain 'chess'; known domains: game24"):
        get_domain("chess")


def test_capabilities_are_declared_honestly():
    has_checker = {n for n in DOMAINS if get_domain(n).has_checker}
    can_generate = {n for n in DOMAINS if get_domain(n).can_generate}
    assert has_checker == can_generate == {"game24", "equation-balancer", "code-synthesis"}
    assert [n for n in DOMAINS if not get_domain(n).scorable] == ["free"]


@pytest.mark.parametrize("name", DOMAINS)
def test_checkers_never_read_the_target(name, arun, run_snippet):
    domain = get_domain(name, run_snippet=run_snippet)
    if name == "code-synthesis":
        domain.per_test_s = 0.5
    prob = sample_problem(name)
    blind = prob.model_copy(update={"target": PoisonedTarget()})
    answer = domain.extract("Answer: 1 + 2 + 3 + 4\n```python\ndef f():\n    return 1\n```")
    verdict = arun(domain.check(blind, answer))
    if domain.has_checker:
        assert isinstance(verdict, Verdict) and verdict.passed is False and verdict.feedback
    else:
        assert verdict is None


@pytest.mark.parametrize("name", [n for n in DOMAINS if n != "code-synthesis"])
def test_nasty_replies_never_crash_extract_or_score(name, arun):
    domain = get_domain(name)
    prob = sample_problem(name)
    for reply in NASTY:
        answer = domain.extract(reply)
        assert answer is None or isinstance(answer, str)
        for candidate in (answer, reply):
            score = arun(domain.score(prob, candidate))
            if domain.scorable:
                assert score == 0.0, (name, (reply or "")[:40], score)
            else:
                assert score is None


def test_free_domain_passes_text_through(arun):
    free = get_domain("free")
    prob = Problem(id="c", input="What is a monad?")
    assert free.render(prob) == "What is a monad?"
    assert free.extract("  A monoid in the category of endofunctors.  ") == \
        "A monoid in the category of endofunctors."
    assert arun(free.score(prob, "anything")) is None
    assert arun(free.check(prob, "anything")) is None


def test_verdict_record():
    v = Verdict(passed=None, verifier="judge")
    assert v.unknown and v.score is None and v.feedback == ""
    with pytest.raises(ValueError):
        Verdict(passed=True, score=1.5, verifier="x")
