"""Equation balancer: fill each `?` in "11 ? 19 ? 7 = 23" with one of + - * /.

As in the Dynamic Cheatsheet data: the numbers stay in order, no parentheses, standard
precedence (* and / before + and -, left to right), exact rational arithmetic (16 / 20 * 15 is
12). Any operator choice whose left side equals the right side is correct; the target is only
one valid answer, so scoring uses the checker and never compares strings.
"""

from __future__ import annotations

import random
import re
from fractions import Fraction

from crib.agents.domains import extract as ex
from crib.agents.domains.arith import ArithError, evaluate, fmt, normalise
from crib.agents.domains.base import Domain
from crib.agents.problems import Problem
from crib.agents.verdict import Verdict

OPS = "+-*/"
_PUZZLE = re.compile(r"^\s*(\d+(?:\s*\?\s*\d+)+)\s*=\s*(-?\d+)\s*$")


def parse_puzzle(value: object) -> tuple[list[int], int]:
    """(numbers in order, right-hand side) from "14 ? 16 ? 20 = 25"."""
    if not isinstance(value, str):
        raise ValueError("equation-balancer input must be a string like '11 ? 19 ? 7 = 23'")
    m = _PUZZLE.match(normalise(value))
    if not m:
        raise ValueError(f"equation-balancer input must look like '11 ? 19 ? 7 = 23', "
                         f"got {value[:80]!r}")
    numbers = [int(x) for x in re.findall(r"\d+", m.group(1))]
    return numbers, int(m.group(2))


def check_equation(puzzle: str, answer: str | None) -> tuple[bool, str]:
    """(passed, feedback): `answer` is the filled-in equation or just the operators."""
    numbers, rhs = parse_puzzle(puzzle)
    if answer is None or not answer.strip():
        return False, "no equation found: end with a line 'Answer: <the equation with operators>'"
    s = normalise(answer)
    ops_only = re.sub(r"[\s,]", "", s)
    if ops_only and all(c in OPS for c in ops_only):
        if len(ops_only) != len(numbers) - 1:
            return False, (f"{len(ops_only)} operators given but the equation has "
                           f"{len(numbers) - 1} blanks")
        s = _fill(numbers, ops_only)
    left = s.split("=")[0]
    if "?" in left:
        return False, "the equation still contains '?': replace every ? with + - * or /"
    try:
        result = evaluate(left, allow_parentheses=False)
    except ArithError as exc:
        return False, f"invalid equation: {exc}"
    if result.numbers != numbers:
        return False, (f"the numbers must stay {' '.join(map(str, numbers))} in this order; "
                       f"the answer has {' '.join(map(str, result.numbers))}")
    if result.value != rhs:
        return False, f"{result.text} evaluates to {fmt(result.value)}, not {rhs}"
    return True, f"{result.text} = {rhs}"


def _fill(numbers: list[int], ops: str) -> str:
    parts = [str(numbers[0])]
    for op, n in zip(ops, numbers[1:]):
        parts += [op, str(n)]
    return " ".join(parts)


def _value(numbers: list[int], ops: str) -> Fraction | None:
    try:
        return evaluate(_fill(numbers, ops), allow_parentheses=False).value
    except ArithError:
        return None


class EquationBalancer(Domain):
    name = "equation-balancer"
    description = "Fill each ? with + - * / so the equation holds (standard precedence)"
    answer_format = (
        "Replace every ? with one of + - * / (keep the numbers in order, no parentheses; * and "
        "/ bind tighter than + and -). End your reply with a final line of the form "
        "`Answer: <the full equation>`, for example `Answer: 11 + 19 - 7 = 23`."
    )
    has_checker = True
    can_generate = True

    def validate_input(self, problem: Problem) -> None:
        parse_puzzle(problem.input)

    def render(self, problem: Problem) -> str:
        return f"Balance the equation: {problem.input}"

    def extract(self, text: str | None) -> str | None:
        text = ex.clip(text)
        for candidate in (ex.tagged(text), ex.answer_line(text), ex.boxed(text),
                          ex.answer_is(text), ex.last_fenced(text)):
            if candidate := ex.unwrap(candidate):
                return candidate.strip("*_`$").strip().rstrip(".").strip()
        for line in reversed(text.splitlines()):  # a bare equation line
            if re.search(r"\d\s*[-+*/×÷]\s*\d.*=", line) and "?" not in line:
                return (ex.unwrap(line) or line).strip("*_`$").strip()
        return None

    async def check(self, problem: Problem, answer: str | None) -> Verdict:
        passed, feedback = check_equation(str(problem.input), answer)
        return Verdict(passed=passed, score=1.0 if passed else 0.0, feedback=feedback,
                       verifier="equation-balancer")

    async def score(self, problem: Problem, answer: str | None) -> float:
        return 1.0 if check_equation(str(problem.input), answer)[0] else 0.0

    def generate(self, n: int, seed: int = 0) -> list[Problem]:
        """Like the DC data: 3-5 numbers in 1..29, integer right side."""
        rng = random.Random(seed)
        out: list[Problem] = []
        seen: set[str] = set()
        while len(out) < n:
            numbers = [rng.randint(1, 29) for _ in range(rng.randint(3, 5))]
            ops = "".join(rng.choice(OPS) for _ in numbers[1:])
            value = _value(numbers, ops)
            if value is None or value.denominator != 1:
                continue
            puzzle = " ? ".join(map(str, numbers)) + f" = {value.numerator}"
            if puzzle in seen:
                continue
            seen.add(puzzle)
            out.append(Problem(
                id=f"equation-balancer-{seed}-{len(out):04d}", input=puzzle,
                target=f"{_fill(numbers, ops)} = {value.numerator}",
                metadata={"target_value": value.numerator, "generated": True, "seed": seed}))
        return out
