"""Agreement across samples: an answer most samples share is more likely right (self-consistency).

Also home of `answer_key`, the normal form under which two answers count as the same (used by
the `vote` policy too).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from crib.agents.problems import Problem
from crib.agents.verdict import Verdict
from crib.agents.verify.base import VerifyContext

if TYPE_CHECKING:
    from crib.agents.domains.base import DomainProtocol

_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def answer_key(answer: Any, domain: DomainProtocol | None = None) -> str | None:
    """Normal form for comparing answers; None for "no answer".

    A domain may define `answer_key(answer)` (e.g. to canonicalise expressions); otherwise text
    is compared case- and whitespace-insensitively, numbers by value, other values as JSON.
    """
    if answer is None:
        return None
    custom = getattr(domain, "answer_key", None)
    if callable(custom):
        key = custom(answer)
        return None if key is None else str(key)
    if isinstance(answer, str):
        text = " ".join(answer.split()).strip().rstrip(".").lower()
        if not text:
            return None
        compact = text.replace(",", "").replace("$", "")
        if _NUMBER.match(compact):
            value = float(compact)
            return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
        return text
    if isinstance(answer, bool):
        return str(answer).lower()
    if isinstance(answer, (int, float)):
        return answer_key(str(answer))
    return json.dumps(answer, sort_keys=True, separators=(",", ":"))


def majority(answers: list[Any],
             domain: DomainProtocol | None = None) -> tuple[int | None, int, int]:
    """(index of the first answer with the most votes, its votes, answers with a key).

    Ties go to the answer seen first, so the choice is deterministic.
    """
    keys = [answer_key(a, domain) for a in answers]
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return None, 0, 0
    top = max(counts.values())
    for i, k in enumerate(keys):
        if k is not None and counts[k] == top:
            return i, top, sum(counts.values())
    return None, 0, 0  # unreachable


class Agreement:
    """Passes when a strict majority of at least `min_samples` samples give this answer."""

    name = "agreement"
    needs_samples = True

    def __init__(self, min_samples: int = 3, threshold: float = 0.5):
        self.min_samples = min_samples
        self.threshold = threshold

    async def verify(self, problem: Problem, answer: Any, ctx: VerifyContext) -> Verdict:
        key = answer_key(answer, ctx.domain)
        keys = [k for k in (answer_key(a, ctx.domain) for a in ctx.samples) if k is not None]
        if key is None:
            return Verdict(passed=False, score=0.0, verifier=self.name,
                           feedback="No answer could be extracted from the reply.")
        if len(keys) < self.min_samples:
            return Verdict(passed=None, verifier=self.name,
                           feedback=f"Only {len(keys)} sample(s); agreement needs "
                                    f"{self.min_samples}.")
        counts = Counter(keys)
        share = counts[key] / len(keys)
        top_key, top_n = counts.most_common(1)[0]
        passed = share > self.threshold
        feedback = f"{counts[key]} of {len(keys)} samples give this answer."
        if not passed and top_key != key:
            feedback += f" The most common answer ({top_n} samples) is different."
        return Verdict(passed=passed, score=round(share, 6), feedback=feedback,
                       verifier=self.name)
