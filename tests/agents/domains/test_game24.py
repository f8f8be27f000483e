"""Game of 24: the enumeration, the generator, the safe checker and extraction."""

from __future__ import annotations

import pytest

from crib.agents.domains import get_domain
from crib.agents.domains.arith import ArithError, evaluate
from crib.agents.domains.base import DomainError
from crib.agents.domains.game24 import (all_solvable, check_expression, enumerate_solvable,
                                   is_solvable, solve)
from crib.agents.problems import Problem

G = get_domain("game24")


def p(numbers: str, target=None) -> Problem:
    return Problem(id="t", input=numbers, target=target)


def test_exactly_1362_multisets_of_1_to_13_make_24():
    pool = all_solvable()
    assert len(pool) == 1362
    assert (4, 5, 6, 10) in pool and (3, 3, 8, 8) in pool
    assert (1, 1, 1, 1) not in pool and not is_solvable([1, 1, 1, 1])


def test_packaged_puzzle_list_is_exactly_what_the_search_finds():
    # all_solvable() reads a packaged list (fast start); the exact search is the reference.
    assert all_solvable() == enumerate_solvable(1, 13)
    assert all_solvable(1, 6) == enumerate_solvable(1, 6)  # other ranges are searched


def test_solver_solutions_pass_the_checker_on_a_sample():
    for numbers in all_solvable()[::97]:
        expr = solve(list(numbers))
        assert expr is not None
        assert check_expression(list(numbers), expr)[0], (numbers, expr)


def test_generate_is_seeded_distinct_and_solvable():
    a, b, c = G.generate(50, seed=7), G.generate(50, seed=7), G.generate(50, seed=8)
    assert a == b and a != c
    assert len({x.id for x in a}) == 50
    assert all(is_solvable([int(n) for n in x.input.split()]) for x in a)
    assert a[0].id == "game24-" + a[0].input.replace(" ", "-")
    assert len(G.generate(1362, seed=0)) == 1362
    with pytest.raises(DomainError):
        G.generate(1363)


@pytest.mark.parametrize("answer", [
    "8 / (3 - 8 / 3)",
    "8 ÷ (3 − 8 ÷ 3)",              # non-ASCII operators
    "８ / (３ - ８ / ３)",             # full-width digits
    "8 / [3 - 8 / 3]",
    "8 \\div (3 - 8 \\div 3)",
    "8/(3-8/3) = 24",
])
def test_valid_answers_pass(arun, answer):
    v = arun(G.check(p("3 3 8 8"), answer))
    assert v.passed is True and v.score == 1.0 and v.verifier == "game24", v.feedback
    assert arun(G.score(p("3 3 8 8"), answer)) == 1.0


@pytest.mark.parametrize("answer,feedback", [
    ("3 * 8", "uses 3 once but the puzzle has it twice"),    # missing numbers
    ("3 * 8 + 8 - 8 + 3 - 3", "uses 3 3 times"),
    ("3 * 8 * 8 / 8 * 3 / 3", "uses 8 3 times but the puzzle has it twice"),  # reused
    ("(8 + 8) + (3 * 3) - 1", "uses 1, which is not one of the numbers"),     # wrong number
    ("8 + 8 + 3 + 3", "evaluates to 22, not 24"),
    ("8 * 3 / (8 - 8)", "division by zero"),
    ("3 ** 8 - 8 - 3", "powers are not allowed"),
    ("9 ** 9 ** 9 ** 9", "powers are not allowed"),          # huge exponent: rejected, not computed
    ("3 ^ 8 + 8 + 3", "powers are not allowed"),
    ("8 // 3 + 8 + 3", "'//' is not allowed"),
    ("-3 + 3 + 8 + 8", "unary"),
    ("8.0 * 3 + 3 - 3", "whole numbers"),
    ("3(8) + 8 - 3", "implicit multiplication"),
    ("__import__('os').system('true')", "unexpected character"),
    ("3 + 8 + 8 + 3 ✓", "unexpected character"),
    ("", "no expression found"),
    ("(" * 400 + "3" + ")" * 400, "too long"),
    ("(((3+3)", "cannot parse"),
])
def test_nasty_answers_fail_with_feedback(arun, answer, feedback):
    v = arun(G.check(p("3 3 8 8"), answer))
    assert v.passed is False and v.score == 0.0
    assert feedback in v.feedback
    assert arun(G.score(p("3 3 8 8"), answer)) == 0.0


def test_none_answer_and_extract_variants():
    assert check_expression([3, 3, 8, 8], None) == (False, check_expression([3, 3, 8, 8], "")[1])
    assert G.extract("So...\nAnswer: (10 - 4) * (5 - 1)") == "(10 - 4) * (5 - 1)"
    assert G.extract("**Answer:** `(10-4)*(5-1) = 24`.") == "(10-4)*(5-1)"
    assert G.extract("thus $\\boxed{(10-4)\\times(5-1)}$") == "(10-4)\\times(5-1)"
    assert G.extract("I tried 4+5 but\n(10 - 4) x (5 - 1) = 24") == "(10 - 4) x (5 - 1)"
    assert G.extract("Answer: 24 = (10 - 4) * (5 - 1)") == "(10 - 4) * (5 - 1)"
    assert G.extract("I have no idea.") is None
    assert G.extract("") is None and G.extract(None) is None
    long_reply = "blah " * 100_000 + "\nAnswer: 4*6*1*1"
    assert G.extract(long_reply) == "4*6*1*1"


def test_extracted_x_multiplication_is_accepted(arun):
    answer = G.extract("Answer: (10 - 4) x (5 - 1)")
    assert arun(G.score(p("1 4 5 10"), answer)) == 1.0


def test_checker_ignores_the_target(arun):
    # A target is never read: a wrong "target" changes nothing.
    assert arun(G.check(p("4 5 6 10", target="nonsense"), "4 * 5 - (6 - 10)")).passed is True


def test_arith_exact_fractions_and_number_order():
    r = evaluate("1 / 3 + 1 / 3 + 1 / 3")
    assert r.value == 1 and r.numbers == [1, 3, 1, 3, 1, 3]
    with pytest.raises(ArithError):
        evaluate("1e400")


def test_render_and_input_forms():
    assert G.render(p("4 5 6 10")) == "Use the numbers 4 5 6 10 to make 24."
    as_dict = Problem(id="x", input={"numbers": [1, 2, 3, 4]})
    assert G.render(as_dict).endswith("1 2 3 4 to make 24.")
    with pytest.raises(ValueError):
        G.validate_input(p("4 5 6"))


def test_shared_dc100_puzzles_are_all_solvable_and_checkable(shared_data, arun):
    problems = G.load(shared_data("game24_dc100.jsonl")).problems
    assert len(problems) == 100
    for prob in problems[:20]:
        expr = solve([int(n) for n in prob.input.split()])
        assert expr is not None and arun(G.score(prob, expr)) == 1.0
