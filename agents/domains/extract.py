"""Tolerant answer extraction shared by the domains.

Models end their replies in many ways: `Answer: 42`, `**Answer:** 42`, `\\boxed{42}`, `#### 42`,
`The answer is 42.`, a fenced block. These helpers find the last such marker; each domain
decides the order it tries them in and how to clean what they return.
"""

from __future__ import annotations

import re

MAX_REPLY_CHARS = 200_000  # longer replies are cut from the front: the answer is at the end

_ANSWER_LINE = re.compile(
    r"^[\s>*_#-]*(?:final\s+answer|answer)\s*[*_]*\s*[:：]\s*[*_]*\s*(.*?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_ANSWER_IS = re.compile(
    r"(?:final\s+answer|answer)\s+(?:is|=)\s*[:：]?\s*(.+?)\s*(?:\.\s*$|$)",
    re.IGNORECASE | re.MULTILINE,
)
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)


def clip(text: str | None) -> str:
    if not text:
        return ""
    return text[-MAX_REPLY_CHARS:]


def answer_line(text: str) -> str | None:
    """What follows the last `Answer:` marker (on the same line, or the next non-empty line)."""
    text = clip(text)
    matches = list(_ANSWER_LINE.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    value = last.group(1).strip().strip("*_").strip()
    if value:
        return value
    rest = text[last.end():].lstrip("\n")
    for line in rest.splitlines():
        if line.strip():
            return line.strip().strip("*_").strip()
    return None


def answer_is(text: str) -> str | None:
    """The last `the answer is X` phrase."""
    matches = list(_ANSWER_IS.finditer(clip(text)))
    return matches[-1].group(1).strip().strip("*_").strip() if matches else None


def boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), braces balanced."""
    text = clip(text)
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth = 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i:j].strip()
    return None


def hash_answer(text: str) -> str | None:
    """GSM8K-style `#### 42`."""
    matches = re.findall(r"^\s*####\s*(.+?)\s*$", clip(text), re.MULTILINE)
    return matches[-1] if matches else None


def fenced_blocks(text: str, languages: tuple[str, ...] | None = None) -> list[str]:
    """Bodies of fenced code blocks, in order; filtered by language tag when given ("" = none)."""
    blocks = []
    for m in _FENCE.finditer(clip(text)):
        lang = m.group(1).lower()
        if languages is None or lang in languages:
            blocks.append(m.group(2))
    return blocks


def last_nonempty_line(text: str) -> str | None:
    for line in reversed(clip(text).splitlines()):
        if line.strip():
            return line.strip()
    return None
