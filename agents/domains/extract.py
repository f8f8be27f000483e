"""Tolerant answer extraction shared by the domains.

Models end their replies in many ways: `<answer>42</answer>`, `Answer: 42`, `**Answer:** 42`,
`\\boxed{42}`, `#### 42`, `The answer is 42.`, a fenced block, `**42**`. These helpers find the
last such marker; each domain decides the order it tries them in, passes what they return
through `unwrap` (which takes off the wrappers models put around an answer: tags, bold, code
fences and backticks, `$`, a repeated `Answer:`), and cleans the rest its own way.
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
_TAG_NAMES = r"(?:final[_ ]?answer|answer|final|result)"
_TAG = re.compile(rf"<({_TAG_NAMES})>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_OPEN_TAG_AT_END = re.compile(rf"<{_TAG_NAMES}>((?:(?!<{_TAG_NAMES}>).)*)$",
                              re.IGNORECASE | re.DOTALL)
_WRAPPED_FENCE = re.compile(r"^```[ \t]*[\w+-]*[ \t]*\n?(.*?)\n?```$", re.DOTALL)
_ANSWER_PREFIX = re.compile(r"^[*_]*(?:final\s+answer|answer)\s*[*_]*\s*[:：]\s*[*_]*\s*",
                            re.IGNORECASE)
_PAIRS = (("<answer>", "</answer>"), ("**", "**"), ("__", "__"), ("`", "`"), ("$", "$"))


def clip(text: str | None) -> str:
    if not text:
        return ""
    return text[-MAX_REPLY_CHARS:]


def tagged(text: str) -> str | None:
    """Content of the last `<answer>...</answer>` (or `<final_answer>`, `<final>`, `<result>`);
    an unclosed tag at the end of the reply counts (the reply was cut there)."""
    text = clip(text)
    matches = list(_TAG.finditer(text))
    if matches:
        return matches[-1].group(2).strip() or None
    m = _OPEN_TAG_AT_END.search(text)
    return m.group(1).strip() or None if m else None


def unwrap(candidate: str | None) -> str | None:
    """`candidate` without the wrappers models put around an answer, however nested:
    `<answer>X</answer>`, `**X**`, `` `X` ``, a fenced block, `$X$`, `Answer: X`."""
    if candidate is None:
        return None
    s = candidate.strip()
    while True:
        before = s
        inner = tagged(s)
        if inner is not None and _TAG.fullmatch(s):
            s = inner
        fence = _WRAPPED_FENCE.match(s)
        if fence:
            s = fence.group(1).strip()
        for left, right in _PAIRS:  # one pair around the whole, not "**A** or **B**"
            inner = s[len(left):-len(right)]
            if (len(s) > len(left) + len(right) and s.startswith(left) and s.endswith(right)
                    and left not in inner):
                s = inner.strip()
        s = _ANSWER_PREFIX.sub("", s).strip()
        if s == before:
            return s or None


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


def last_fenced(text: str) -> str | None:
    """Body of the last fenced block when it is one short line (an answer, not code)."""
    blocks = fenced_blocks(text)
    if not blocks:
        return None
    body = blocks[-1].strip()
    return body if body and "\n" not in body else None


def last_nonempty_line(text: str) -> str | None:
    """The last line with text (a code fence's ``` line does not count)."""
    for line in reversed(clip(text).splitlines()):
        if line.strip() and not line.strip().startswith("```"):
            return line.strip()
    return None
