"""Game of 24: combine four numbers with + - * / and parentheses to make 24.

Needs no target: the checker parses the expression safely (see `arith`), checks that it uses
each of the puzzle's numbers exactly once and that it evaluates to exactly 24. The generator
draws (seeded) from every multiset of four numbers 1..13 that can make 24 (1362 of them).
Inputs look like "4 5 6 10" (as in the Dynamic Cheatsheet data); a list or {"numbers": [...]}
works too.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from itertools import combinations_with_replacement

from crib.agents.domains import extract as ex
from crib.agents.domains.arith import ArithError, evaluate, fmt
from crib.agents.domains.base import Domain, DomainError
from crib.agents.problems import Problem
from crib.agents.verdict import Verdict

GOAL = 24
SOLVABLE_FILE = "game24_solvable.txt"  # all_solvable(1, 13), one "a b c d" a line


def parse_numbers(value: object) -> list[int]:
    """The puzzle's four numbers from "4 5 6 10", "4,5,6,10", [4, 5, 6, 10] or {"numbers": ...}."""
    if isinstance(value, dict):
        value = value.get("numbers")
    if isinstance(value, str):
        parts = re.findall(r"-?\d+(?:\.\d+)?", value)
        if len(re.sub(r"[\d\s,;.\-\[\]]", "", value)) > 0:
            raise ValueError(f"game24 input must be four numbers like '4 5 6 10', got {value!r}")
        nums = [float(p) for p in parts]
    elif isinstance(value, list):
        nums = value
    else:
        raise ValueError("game24 input must be four numbers like '4 5 6 10'")
    if len(nums) != 4 or not all(isinstance(n, (int, float)) and float(n).is_integer()
                                 and n >= 0 for n in nums):
        raise ValueError(f"game24 input must be four whole numbers, got {value!r}")
    return [int(n) for n in nums]


def _combine(a: Fraction, b: Fraction) -> set[Fraction]:
    out = {a + b, a - b, b - a, a * b}
    if b:
        out.add(a / b)
    if a:
        out.add(b / a)
    return out


@lru_cache(maxsize=None)
def _values(nums: tuple[Fraction, ...]) -> frozenset[Fraction]:
    """Every value reachable from the multiset `nums` (sorted) with + - * /."""
    if len(nums) == 1:
        return frozenset(nums)
    out: set[Fraction] = set()
    for left, right in _splits(nums):
        for a in _values(left):
            for b in _values(right):
                out |= _combine(a, b)
    return frozenset(out)


def _splits(nums: tuple[Fraction, ...]) -> list[tuple[tuple[Fraction, ...], tuple[Fraction, ...]]]:
    """Unordered splits of a multiset into two non-empty parts (each part sorted)."""
    n, seen, out = len(nums), set(), []
    for mask in range(1, (1 << n) - 1):
        left = tuple(nums[i] for i in range(n) if mask >> i & 1)
        right = tuple(nums[i] for i in range(n) if not mask >> i & 1)
        key = frozenset([left, right]) if left != right else (left,)
        if key not in seen:
            seen.add(key)
            out.append((left, right))
    return out


def _solvable(nums: tuple[Fraction, ...], goal: Fraction = Fraction(GOAL)) -> bool:
    # Top level: for a in one part, ask whether the other part reaches what a needs.
    if len(nums) == 1:
        return nums[0] == goal
    for left, right in _splits(nums):
        rv = _values(right)
        for a in _values(left):
            needed = {goal - a, a - goal, goal + a}  # a+b, a-b, b-a
            if a:
                needed |= {goal / a, a / goal, goal * a}  # a*b, a/b, b/a
            if any(x in rv for x in needed):
                return True
    return False


def is_solvable(numbers: list[int]) -> bool:
    return _solvable(tuple(sorted(Fraction(n) for n in numbers)))


def solve(numbers: list[int]) -> str | None:
    """One expression making 24 from `numbers`, or None."""
    items = [(Fraction(n), str(n)) for n in numbers]

    def rec(items: list[tuple[Fraction, str]]) -> str | None:
        if len(items) == 1:
            return items[0][1] if items[0][0] == GOAL else None
        for i in range(len(items)):
            for j in range(len(items)):
                if i == j:
                    continue
                (a, ea), (b, eb) = items[i], items[j]
                rest = [items[k] for k in range(len(items)) if k not in (i, j)]
                options = [(a + b, f"({ea} + {eb})"), (a - b, f"({ea} - {eb})"),
                           (a * b, f"({ea} * {eb})")]
                if b:
                    options.append((a / b, f"({ea} / {eb})"))
                for value, expr in options:
                    if not _solvable(tuple(sorted([v for v, _ in rest] + [value]))):
                        continue
                    found = rec(rest + [(value, expr)])
                    if found:
                        return found
        return None

    found = rec(items)
    return found[1:-1] if found and found.startswith("(") and found.endswith(")") else found


def enumerate_solvable(low: int = 1, high: int = 13) -> tuple[tuple[int, int, int, int], ...]:
    """Every sorted multiset of four numbers in [low, high] that can make 24, by search
    (about a second of CPU for 1..13: the exact Fraction search is thorough, not fast)."""
    return tuple(c for c in combinations_with_replacement(range(low, high + 1), 4)
                 if is_solvable(list(c)))


@lru_cache(maxsize=None)
def all_solvable(low: int = 1, high: int = 13) -> tuple[tuple[int, int, int, int], ...]:
    """Every sorted multiset of four numbers in [low, high] that can make 24. For 1..13 it is
    read from the packaged list (every `crib solve --domain game24` start needs it; the test
    suite checks the list against `enumerate_solvable`); other ranges are searched."""
    if (low, high) != (1, 13):
        return enumerate_solvable(low, high)
    text = resources.files("crib.agents.domains").joinpath(SOLVABLE_FILE).read_text()
    return tuple(_four(line) for line in text.splitlines()
                 if line.strip() and not line.startswith("#"))


def _four(line: str) -> tuple[int, int, int, int]:
    a, b, c, d = (int(n) for n in line.split())
    return a, b, c, d


def check_expression(numbers: list[int], answer: str | None) -> tuple[bool, str]:
    """(passed, feedback) for one candidate expression."""
    return _check(tuple(numbers), answer)


@lru_cache(maxsize=4096)  # the loop's check and the final score ask the same question
def _check(numbers_key: tuple[int, ...], answer: str | None) -> tuple[bool, str]:
    numbers = list(numbers_key)
    if answer is None or not answer.strip():
        return False, "no expression found: end with a line 'Answer: <expression>'"
    try:
        result = evaluate(_clean(answer))
    except ArithError as exc:
        return False, f"invalid expression: {exc}"
    want, got = Counter(numbers), Counter(result.numbers)
    problems = []
    for n in sorted(set(want) | set(got)):
        if got[n] > want[n] and want[n] == 0:
            problems.append(f"uses {n}, which is not one of the numbers {numbers}")
        elif got[n] > want[n]:
            problems.append(f"uses {n} {_times(got[n])} but the puzzle has it {_times(want[n])}")
        elif got[n] < want[n]:
            problems.append(f"does not use {n}" if got[n] == 0 else
                            f"uses {n} {_times(got[n])} but the puzzle has it {_times(want[n])}")
    if problems:
        return False, ("the expression " + "; ".join(problems)
                       + f". Use each of {' '.join(map(str, numbers))} exactly once.")
    if result.value != GOAL:
        return False, f"{result.text} evaluates to {fmt(result.value)}, not {GOAL}"
    return True, f"{result.text} = {GOAL}, using each number exactly once"


def _times(k: int) -> str:
    return {1: "once", 2: "twice"}.get(k, f"{k} times")


class Game24(Domain):
    name = "game24"
    description = "Game of 24: make 24 from four numbers with + - * / and parentheses"
    answer_format = (
        "Give one arithmetic expression that uses each of the four given numbers exactly once, "
        "with only + - * / and parentheses, and evaluates to 24. End your reply with a final "
        "line of the form `Answer: <expression>`, for example `Answer: (10 - 4) * (5 - 1)`."
    )
    has_checker = True
    can_generate = True

    def validate_input(self, problem: Problem) -> None:
        parse_numbers(problem.input)

    def render(self, problem: Problem) -> str:
        nums = parse_numbers(problem.input)
        return f"Use the numbers {' '.join(map(str, nums))} to make 24."

    def extract(self, text: str | None) -> str | None:
        text = ex.clip(text)
        for candidate in (ex.tagged(text), ex.answer_line(text), ex.boxed(text),
                          ex.answer_is(text), ex.last_fenced(text)):
            if candidate := ex.unwrap(candidate):
                return _clean(candidate)
        # Fall back to the last line that looks like arithmetic.
        for line in reversed(text.splitlines()):
            if re.search(r"\d\s*[-+*/×÷xX]\s*[\d(]", line):
                return _clean(ex.unwrap(line) or line)
        return None

    async def check(self, problem: Problem, answer: str | None) -> Verdict:
        passed, feedback = check_expression(parse_numbers(problem.input), answer)
        return Verdict(passed=passed, score=1.0 if passed else 0.0, feedback=feedback,
                       verifier="game24")

    async def score(self, problem: Problem, answer: str | None) -> float:
        passed, _ = check_expression(parse_numbers(problem.input), answer)
        return 1.0 if passed else 0.0

    def generate(self, n: int, seed: int = 0) -> list[Problem]:
        pool = all_solvable()
        if not 0 <= n <= len(pool):
            raise DomainError(f"game24 can generate 0..{len(pool)} distinct puzzles, not {n}")
        picks = random.Random(seed).sample(pool, n)
        return [Problem(id="game24-" + "-".join(map(str, p)), input=" ".join(map(str, p)),
                        metadata={"generated": True, "seed": seed}) for p in picks]


def _clean(candidate: str) -> str:
    s = candidate.strip().strip("*_`").strip()
    s = s.removeprefix("$").removesuffix("$")
    # "(10-4)*(5-1) = 24" or "24 = (10-4)*(5-1)": keep the side that does the arithmetic.
    if "=" in s:
        sides = [part.strip() for part in s.split("=") if part.strip()]
        worked = [part for part in sides if re.search(r"\d\s*[-+*/×÷xX]", part)]
        s = worked[0] if worked else (sides[0] if sides else "")
    return s.strip().rstrip(".").strip()
