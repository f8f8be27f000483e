"""Getting a JSON object out of a model's reply text, repairing the usual damage.

Steps, each tried only when the previous parse failed: the text as is; without Markdown code
fences; the outermost {...} (or [...]) span; that span with trailing commas removed, Python
literals (True/False/None) turned into JSON and smart quotes straightened.
"""
from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON|javascript|js)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_PY_LITERALS = {r"\bTrue\b": "true", r"\bFalse\b": "false", r"\bNone\b": "null"}


class JSONRepairError(ValueError):
    pass


def _outermost(text: str) -> str | None:
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return None
    start = min(starts)
    close = "}" if text[start] == "{" else "]"
    end = text.rfind(close)
    return text[start:end + 1] if end > start else None


def _repair(span: str) -> str:
    fixed = _TRAILING_COMMA.sub(r"\1", span)
    fixed = fixed.replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'")
    for pattern, literal in _PY_LITERALS.items():
        fixed = re.sub(pattern, literal, fixed)
    return fixed


def candidates(text: str) -> list[str]:
    out = [text.strip()]
    fenced = _FENCE.findall(text)
    out.extend(f.strip() for f in fenced)
    for source in [*fenced, text]:
        span = _outermost(source)
        if span:
            out.append(span)
            out.append(_repair(span))
    seen: list[str] = []
    for c in out:
        if c and c not in seen:
            seen.append(c)
    return seen


def parse_json(text: str) -> Any:
    """The first candidate that parses; JSONRepairError (with the last parse error) if none."""
    last: Exception | None = None
    for candidate in candidates(text):
        try:
            return json.loads(candidate)
        except json.JSONDecodeError as exc:
            last = exc
    raise JSONRepairError(f"no JSON found in the reply ({last or 'empty reply'})")
