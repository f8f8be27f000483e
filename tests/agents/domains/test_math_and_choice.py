"""math-numeric and multiple-choice: tolerant extraction, exact/tolerant scoring, the data."""

from __future__ import annotations

import pytest

from crib.agents.domains import get_domain
from crib.agents.problems import Problem

M = get_domain("math-numeric")
C = get_domain("multiple-choice")


@pytest.mark.parametrize("reply,expected", [
    ("The answer is $1,234.", "1234"),
    ("so \\boxed{\\frac{3}{4}}", "0.75"),
    ("x = \\boxed{\\dfrac{1}{3}} hmm", "1/3"),
    ("Answer: 18 dollars", "18"),
    ("Answer: 5 + 3 = 8", "8"),
    ("#### 72", "72"),
    ("Answer: **25%**", "25"),
    ("Answer: -7.50", "-7.5"),
    ("\\boxed{080}", "80"),
    ("Answer: 1/3", "1/3"),
    ("Answer: \\$2{,}125", "2125"),
    ("Answer: −4", "-4"),
    ("first 3, then 5.", "5"),          # last number as a fallback
    ("Answer: 1.5E3", "1500"), ("Answer: 2.5e-3", "0.0025"),
    ("no number at all", None),
    ("", None),
])
def test_math_extract(reply, expected):
    assert M.extract(reply) == expected


@pytest.mark.parametrize("answer,target,score", [
    ("18", "18", 1.0), ("18.0", "18", 1.0), ("17.9999", "18", 0.0), ("19", "18", 0.0),
    ("80", "080 or 081 (both were accepted)", 1.0), ("81", "080 or 081 (both were accepted)", 1.0),
    ("2125", "2,125", 1.0), ("0.33333", "1/3", 1.0), ("0.33", "1/3", 0.0),
    ("3.14159", "3.1416", 1.0), ("3", ["2", "3"], 1.0), (None, "3", 0.0), ("abc", "3", 0.0),
    ("1" * 5000, "1", 0.0), ("1e400", "1", 0.0), ("1e999999999", "2", 0.0),
])
def test_math_score(arun, answer, target, score):
    assert arun(M.score(Problem(id="m", input="q", target=target), answer)) == score


def test_math_has_no_checker(arun):
    assert arun(M.check(Problem(id="m", input="q", target="3"), "3")) is None


def test_math_shared_data_targets_score_themselves(shared_data, arun):
    for name in ["gsm8k_test.jsonl", "mgsm_en.jsonl", "aime_2020_2024.jsonl", "aime_2025.jsonl"]:
        for prob in M.load(shared_data(name)).problems:
            extracted = M.extract(f"Answer: {prob.target}")
            assert arun(M.score(prob, extracted)) == 1.0, (name, prob.id, prob.target)
    gsm = M.load(shared_data("gsm8k_test.jsonl")).problems[:50]
    for prob in gsm:  # the worked solutions end with "#### n"
        assert arun(M.score(prob, M.extract(prob.metadata["solution"]))) == 1.0, prob.id


@pytest.mark.parametrize("reply,expected", [
    ("Answer: C", "C"), ("Answer: (C)", "C"), ("So the answer is (C).", "C"),
    ("\\boxed{D}", "D"), ("**B**", "B"), ("C", "C"), ("(C).", "C"),
    ("I think it's option E, because", "E"), ("The correct choice is B", "B"),
    ("Answer: c) 3.5 m", "C"), ("Answer:\n(G)", "G"), ("Final Answer: **(J)**", "J"),
    ("Answer: Carbon", None), ("A solid argument.", None), ("Answer: a cat", None),
    ("Between (A) and (B)", None), ("", None), ("Answer: (K)", None),
])
def test_choice_extract(reply, expected):
    assert C.extract(reply) == expected


def test_choice_score(arun):
    prob = Problem(id="c", input="Q?\n(A) x\n(B) y\n(C) z", target="(C)")
    assert arun(C.score(prob, "C")) == 1.0
    assert arun(C.score(prob, "(C)")) == 1.0
    assert arun(C.score(prob, "B")) == 0.0
    assert arun(C.score(prob, None)) == 0.0
    assert arun(C.score(Problem(id="c", input="q", target="c"), "C")) == 1.0
    assert arun(C.check(prob, "C")) is None


def test_choice_shared_data(shared_data, arun):
    problems = C.load(shared_data("mmlu_pro_physics.jsonl")).problems
    assert all(arun(C.score(p, C.extract(f"The answer is {p.target}."))) == 1.0 for p in problems)
    assert C.render(problems[0]) == problems[0].input
