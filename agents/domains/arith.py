"""Safe exact arithmetic over model-written expressions (Game of 24, equation balancer).

Model output is never handed to `eval`. The text is normalised (×, ÷, x, −, LaTeX \\times, full
width digits, ...), checked against a whitelist of characters, parsed with `ast` in "eval" mode
and walked by hand: only integer literals, + - * / and parentheses are accepted, and every value
is a `fractions.Fraction`, so 8 / (3 - 8 / 3) is exactly 24. Powers, floor division, unary signs,
names, calls and decimals are rejected with a message saying what was wrong.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

MAX_EXPRESSION_CHARS = 300

_REPLACEMENTS = [
    ("\\times", "*"), ("\\cdot", "*"), ("\\div", "/"), ("\\left", ""), ("\\right", ""),
    ("\\(", ""), ("\\)", ""), ("\\[", ""), ("\\]", ""), ("$", ""), ("`", ""),
    ("×", "*"), ("✕", "*"), ("⋅", "*"), ("·", "*"), ("∗", "*"), ("•", "*"),
    ("÷", "/"), ("∕", "/"), ("−", "-"), ("–", "-"), ("—", "-"), ("‐", "-"), ("‒", "-"),
    ("[", "("), ("]", ")"), ("{", "("), ("}", ")"),
]
_ALLOWED = set("0123456789+-*/() ")


class ArithError(ValueError):
    """The expression is not acceptable; the message is feedback for the agent."""


@dataclass(frozen=True)
class Evaluated:
    value: Fraction
    numbers: list[int]  # integer literals in left-to-right order
    text: str  # the normalised expression


def normalise(text: str) -> str:
    """Map the many ways models write + - * / onto ASCII."""
    s = unicodedata.normalize("NFKC", text)
    for old, new in _REPLACEMENTS:
        s = s.replace(old, new)
    # `x` or `X` between operands is multiplication: "3 x 8", "(1+2)x8".
    s = re.sub(r"(?<=[\d)\s])[xX](?=[\s\d(])", "*", s)
    s = s.strip().rstrip(".").strip()
    return s


def fmt(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{value.numerator}/{value.denominator}"


def evaluate(text: str, allow_parentheses: bool = True) -> Evaluated:
    """Parse and evaluate `text` exactly, or raise ArithError with readable feedback."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ArithError(f"the expression is too long ({len(text)} characters)")
    s = normalise(text)
    if not s:
        raise ArithError("the expression is empty")
    if "**" in s or "^" in s:
        raise ArithError("powers are not allowed: use only + - * / and parentheses")
    if "//" in s:
        raise ArithError("'//' is not allowed: use / for exact division")
    bad = sorted({c for c in s if c not in _ALLOWED})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        if set(bad) <= {".", ","}:
            raise ArithError(f"only whole numbers from the puzzle may be used (found {shown})")
        raise ArithError(f"unexpected character(s) {shown}: use only numbers, + - * / and "
                         "parentheses")
    if not allow_parentheses and ("(" in s or ")" in s):
        raise ArithError("parentheses are not allowed here: only fill in the operators")
    # "04" is a syntax error in Python 3; a leading zero changes nothing in arithmetic.
    s = re.sub(r"(?<!\d)0+(?=\d)", "", s)
    try:
        tree = ast.parse(s, mode="eval")
    except SyntaxError:
        raise ArithError(f"cannot parse {s!r} as an arithmetic expression") from None
    except (RecursionError, MemoryError):
        raise ArithError("the expression is nested too deeply") from None
    numbers: list[int] = []
    value = _walk(tree.body, numbers)
    return Evaluated(value=value, numbers=numbers, text=s)


def _walk(node: ast.AST, numbers: list[int]) -> Fraction:
    if isinstance(node, ast.Constant):
        if type(node.value) is not int:
            raise ArithError(f"unexpected literal {node.value!r}")
        numbers.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp):
        left = _walk(node.left, numbers)
        right = _walk(node.right, numbers)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            if right == 0:
                raise ArithError(f"division by zero in {ast.unparse(node)}")
            return left / right
        raise ArithError(f"operator {type(node.op).__name__} is not allowed: use + - * /")
    if isinstance(node, ast.UnaryOp):
        raise ArithError("a sign in front of a number or bracket (unary + or -) is not allowed")
    if isinstance(node, ast.Call):
        raise ArithError("implicit multiplication or function calls are not allowed: write *")
    raise ArithError(f"unsupported syntax ({type(node).__name__}): use only numbers, + - * / "
                     "and parentheses")
