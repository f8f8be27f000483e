"""Numeric answers (GSM8K, MGSM, AIME style).

Extraction is tolerant: \\boxed{...} first, then the last `Answer:` line, `#### n`, "the answer
is n", and finally the last number in the reply. The number is cleaned of $, commas, %, units,
a trailing period and LaTeX (\\frac{a}{b}, \\dfrac, \\$, \\%). Scoring: integer targets need an
exact match (080 equals 80; 17.9999 does not equal 18); decimal and fraction targets match within
a relative tolerance of 1e-4 or exactly as rationals. A target may list alternatives as a JSON
list or as "080 or 081" text.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from crib.agents.domains import extract as ex
from crib.agents.domains.base import Domain
from crib.agents.problems import Problem

REL_TOL = 1e-4
MAX_ANSWER_CHARS = 200
# Exponents are capped at 3 digits: Fraction("1e999999999") would build a gigantic integer.
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d{1,3}(?!\d))?|-?\.\d+")
_FRAC = re.compile(r"(-?)\\d?frac\{\s*(-?[\d.,]+)\s*\}\{\s*(-?[\d.,]+)\s*\}")
_SLASH = re.compile(r"(-?\d[\d,]*(?:\.\d+)?)\s*/\s*(\d[\d,]*(?:\.\d+)?)")


def parse_number(text: str | None) -> Fraction | None:
    """The (first) number in `text` as an exact Fraction, or None."""
    if text is None:
        return None
    # Answers are short; the cap also keeps the regexes linear on adversarial replies.
    s = _clean(text.strip()[:MAX_ANSWER_CHARS])
    m = _FRAC.search(s)
    if m:
        try:
            value = Fraction(m.group(2).replace(",", "")) / Fraction(m.group(3).replace(",", ""))
        except (ValueError, ZeroDivisionError):
            return None
        return -value if m.group(1) else value
    m = _SLASH.search(s)
    if m and (n := _NUMBER.search(s)) and n.start() == m.start():
        try:
            return Fraction(m.group(1).replace(",", "")) / Fraction(m.group(2).replace(",", ""))
        except (ValueError, ZeroDivisionError):
            return None
    m = _NUMBER.search(s)
    if not m or m.end() >= MAX_ANSWER_CHARS:
        return None  # no number, or one cut off by the length cap (not the number written)
    token = m.group(0)
    # "1,234" is a thousands separator; "1,2" (European decimal comma) is taken as 1.2.
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", token):
        token = token.replace(",", "")
    elif re.fullmatch(r"-?\d+,\d{1,2}", token):
        token = token.replace(",", ".")
    else:
        token = token.replace(",", "")
    try:
        return Fraction(token)
    except (ValueError, ZeroDivisionError):
        return None


def _clean(text: str) -> str:
    s = text.replace("−", "-").replace("–", "-").replace("\\!", "").replace("{,}", ",")
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    s = s.replace("\\left", "").replace("\\right", "").replace("\\,", "").replace("\u202f", "")
    s = re.sub(r"\\text\{[^}]*\}", " ", s)
    return s


def format_number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    try:
        as_float = float(value)
    except OverflowError:
        as_float = math.inf
    if math.isfinite(as_float) and Fraction(repr(as_float)) == value:
        return repr(as_float)
    return f"{value.numerator}/{value.denominator}"


def _alternatives(target: object) -> list[str]:
    if target is None:
        return []
    if isinstance(target, (list, tuple)):
        return [str(t) for t in target]
    text = str(target)
    parts = re.split(r"\s+or\s+|\s*\|\s*", text) if re.search(r"\sor\s|\|", text) else [text]
    return [p for p in parts if p.strip()]


def _is_integer_text(text: str) -> bool:
    return bool(re.fullmatch(r"\s*-?[\d,]+\s*", _clean(text)))


def numbers_match(answer: Fraction, target_text: str) -> bool:
    target = parse_number(target_text)
    if target is None:
        return False
    if answer == target:
        return True
    if _is_integer_text(target_text):
        return False  # integers must match exactly
    # Exact rational arithmetic: no float overflow on absurd answers such as 1e999.
    return abs(answer - target) <= Fraction(REL_TOL) * max(abs(target), Fraction(1, 10**12))


class MathNumeric(Domain):
    name = "math-numeric"
    description = "Word and competition math with a single numeric answer (GSM8K, MGSM, AIME)"
    answer_format = (
        "Solve the problem. End your reply with a final line of the form `Answer: <number>`, "
        "giving only the number (no units, no thousands separators), for example `Answer: 42`."
    )

    def extract(self, text: str | None) -> str | None:
        text = ex.clip(text)
        for candidate in (ex.tagged(text), ex.boxed(text), ex.answer_line(text),
                          ex.hash_answer(text), ex.answer_is(text), ex.last_fenced(text)):
            candidate = ex.unwrap(candidate)
            if candidate and "=" in candidate:  # "Answer: 5 + 3 = 8": the result is last
                candidate = candidate.rsplit("=", 1)[1]
            value = parse_number(candidate)
            if value is not None:
                return format_number(value)
        # Last resort: the last number in the reply.
        numbers = _NUMBER.findall(_clean(text))
        if numbers:
            value = parse_number(numbers[-1])
            if value is not None:
                return format_number(value)
        return None

    async def score(self, problem: Problem, answer: str | None) -> float:
        value = parse_number(answer)
        if value is None:
            return 0.0
        return 1.0 if any(numbers_match(value, t) for t in _alternatives(problem.target)) else 0.0
