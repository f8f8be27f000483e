"""Equation balancer: standard precedence, any valid operator choice, generator, nasty answers."""

from __future__ import annotations

import pytest

from crib.agents.domains import get_domain
from crib.agents.domains.equation_balancer import check_equation
from crib.agents.problems import Problem

E = get_domain("equation-balancer")
PUZZLE = Problem(id="e", input="11 ? 19 ? 7 = 23", target="11 + 19 - 7 = 23")


def test_precedence_is_standard_and_exact():
    # 16 / 20 * 15 = 12 exactly; left to right for * and /.
    assert check_equation("14 ? 16 ? 20 ? 15 ? 23 = 25", "14 - 16 / 20 * 15 + 23 = 25")[0]
    assert check_equation("15 ? 28 ? 14 ? 18 = 425", "15 + 28 * 14 + 18")[0]


def test_any_valid_operator_choice_scores_even_if_not_the_target(arun):
    prob = Problem(id="x", input="2 ? 2 ? 2 = 6", target="2 + 2 + 2 = 6")
    for answer in ["2 + 2 + 2 = 6", "2 * 2 + 2 = 6", "2 + 2 * 2", "+ *"]:
        assert arun(E.score(prob, answer)) == 1.0, answer
        assert arun(E.check(prob, answer)).passed is True


@pytest.mark.parametrize("answer,feedback", [
    ("11 - 19 + 7 = 23", "evaluates to -1, not 23"),
    ("(11 + 19) - 7", "parentheses are not allowed"),
    ("11 + 7 + 19 = 23", "must stay 11 19 7 in this order"),
    ("11 + 19 - 7 + 1 = 23", "must stay"),
    ("11 ? 19 - 7 = 23", "still contains '?'"),
    ("11 ** 19 - 7", "powers are not allowed"),
    ("11 + 19 / (7 - 7)", "parentheses"),
    ("+ - *", "3 operators given but the equation has 2 blanks"),
    ("", "no equation found"),
    ("11 ＋ 19 − 7 ≠ 23", "unexpected character"),
])
def test_wrong_answers_fail_with_feedback(arun, answer, feedback):
    v = arun(E.check(PUZZLE, answer))
    assert v.passed is False and feedback in v.feedback, v.feedback
    assert arun(E.score(PUZZLE, answer)) == 0.0


def test_division_by_zero_is_reported():
    ok, feedback = check_equation("4 ? 0 ? 1 = 1", "4 / 0 + 1")
    assert not ok and "division by zero" in feedback


def test_unicode_operators_are_normalised(arun):
    assert arun(E.score(PUZZLE, "11 ＋ 19 − 7 = 23")) == 1.0
    assert arun(E.score(Problem(id="m", input="3 ? 4 = 12"), "3 × 4 = 12")) == 1.0


def test_extract():
    assert E.extract("so\nAnswer: 11 + 19 - 7 = 23.") == "11 + 19 - 7 = 23"
    assert E.extract("work...\n11 + 19 - 7 = 23") == "11 + 19 - 7 = 23"
    assert E.extract("nothing here") is None


def test_generate_is_seeded_and_every_target_checks(arun):
    a, b = E.generate(40, seed=3), E.generate(40, seed=3)
    assert a == b and a != E.generate(40, seed=4)
    assert len({x.input for x in a}) == 40
    for prob in a:
        E.validate_input(prob)
        assert 3 <= len(prob.input.split("?")) <= 5
        assert arun(E.score(prob, prob.target)) == 1.0


def test_invalid_puzzle_inputs_are_rejected():
    for bad in ["11 + 19 = 30", "? ? = 2", "abc", ""]:
        with pytest.raises(ValueError):
            E.validate_input(Problem(id="b", input=bad or " "))


def test_every_shared_target_passes_and_wrong_ones_fail(shared_data, arun):
    problems = E.load(shared_data("equation_balancer.jsonl")).problems
    assert len(problems) == 250
    for prob in problems:
        assert arun(E.score(prob, prob.target)) == 1.0, prob.id
    # Flipping the first operator breaks at least most of them.
    def flip(target: str) -> str:
        return (target.replace(" + ", " * ", 1) if " + " in target
                else target.replace(" - ", " + ", 1))
    flipped = sum(arun(E.score(prob, flip(prob.target))) for prob in problems)
    assert flipped < 50
