"""Verifiers that need neither a model nor a sandbox: agreement, the domain checker, combining."""
import asyncio

from crib.agents.domains.game24 import Game24
from crib.agents.problems import Problem
from crib.agents.verdict import Verdict
from crib.agents.verify import (Agreement, CodeExecution, DomainChecker, LLMJudge, VerifyContext,
                           answer_key, code_in, combine, default_verifiers, majority,
                           without_target)


def run(coro):
    return asyncio.run(coro)


def test_answer_key_normalises_text_numbers_and_structures():
    assert answer_key(" The  Answer. ") == answer_key("the answer")
    assert answer_key("1,000") == answer_key("1000.0") == "1000"
    assert answer_key(7) == "7"
    assert answer_key([[1, 2]]) == answer_key([[1, 2]])
    assert answer_key(None) is None and answer_key("   ") is None


def test_majority_picks_most_common_first_seen_on_ties():
    assert majority(["b", "a", "a", None, "b"]) == (0, 2, 4)  # tie: "b" was seen first
    assert majority(["5", "7", "5.0"]) == (0, 2, 3)
    assert majority([None, None]) == (None, 0, 0)


def test_agreement_unknown_until_enough_samples_then_majority():
    ag = Agreement(min_samples=3)
    p = Problem(id="q", input="2+2?")
    few = run(ag.verify(p, "4", VerifyContext(domain=None, samples=["4", "4"])))
    assert few.passed is None and "2 sample" in few.feedback
    ok = run(ag.verify(p, "4", VerifyContext(domain=None, samples=["4", "4", "5"])))
    assert ok.passed is True and abs(ok.score - 2 / 3) < 1e-6
    bad = run(ag.verify(p, "5", VerifyContext(domain=None, samples=["4", "4", "5"])))
    assert bad.passed is False and "most common answer" in bad.feedback
    none = run(ag.verify(p, None, VerifyContext(domain=None, samples=["4"])))
    assert none.passed is False


def test_domain_checker_uses_game24_checker_without_target():
    domain = Game24()
    p = without_target(Problem(id="g", input="4 5 6 10", target="(4 * 5) - (6 - 10)"))
    assert p.target is None
    chk = DomainChecker()
    good = run(chk.verify(p, "(5 - 4) * 6 * 10 / 10 * 4", VerifyContext(domain=domain)))
    # 4 used twice, 10 twice: a wrong answer gets feedback naming the problem
    assert good.passed is False and "twice" in good.feedback
    right = run(chk.verify(p, "4 * 5 - (6 - 10)", VerifyContext(domain=domain)))
    assert right.passed is True and right.score == 1.0
    missing = run(chk.verify(p, None, VerifyContext(domain=domain)))
    assert missing.passed is False


def test_domain_checker_reports_a_crashing_checker_as_unknown():
    class Broken:
        name = "broken"

        async def check(self, problem, answer):
            raise ZeroDivisionError("boom")

    v = run(DomainChecker().verify(Problem(id="x", input="t"), "a", VerifyContext(domain=Broken())))
    assert v.passed is None and "ZeroDivisionError: boom" in v.feedback


def test_domain_without_checker_is_unknown():
    class Plain:
        name = "plain"

        async def check(self, problem, answer):
            return None

    v = run(DomainChecker().verify(Problem(id="x", input="t"), "a", VerifyContext(domain=Plain())))
    assert v.passed is None


def test_combine_any_fail_fails_any_pass_passes_else_unknown():
    p = Verdict(passed=True, score=1.0, verifier="a")
    f = Verdict(passed=False, score=0.0, verifier="b")
    u = Verdict(passed=None, verifier="c")
    assert combine([p, u]) == (True, 1.0)
    assert combine([p, f, u]) == (False, 0.5)
    assert combine([u]) == (None, None)
    assert combine([]) == (None, None)


def test_code_in_finds_fenced_blocks_and_bare_programs_but_not_plain_answers():
    assert code_in("text\n```python\nprint(1)\n```\nmore") == "print(1)\n"
    assert code_in("```\nx = 2\nprint(x)\n```") == "x = 2\nprint(x)\n"
    assert code_in("def f(x):\n    return x + 1") == "def f(x):\n    return x + 1\n"
    assert code_in("42") is None
    assert code_in("The answer is\nclearly 42") is None  # prose does not parse


def test_default_verifiers_per_domain():
    class D:
        def __init__(self, name, has_checker=None):
            self.name = name
            if has_checker is not None:
                self.has_checker = has_checker

    names = lambda d: [type(v) for v in default_verifiers(d)]  # noqa: E731
    assert names(Game24()) == [DomainChecker]
    assert names(D("code-synthesis", True)) == [DomainChecker, CodeExecution]
    assert names(D("free", False)) == [LLMJudge]
    assert names(D("math-numeric", False)) == [Agreement]
    assert names(D("equation-balancer")) == [DomainChecker]
