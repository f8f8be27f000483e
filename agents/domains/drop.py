"""DROP reading comprehension: maximum token F1 over the acceptable answers.

The metric follows the official DROP evaluation (also used by ADAS): lowercase, strip
punctuation (except inside numbers), drop articles, normalise numbers ("2.0" == "2"), compare
bags of tokens, and require a number in the gold answer to appear in the prediction. Multi-span
answers (lists) are aligned span to span for the best total. Unlike the official script the F1
is not rounded, and it is always a 0..1 fraction (ADAS reported DROP intervals 100x off).
"""

from __future__ import annotations

import itertools
import re
import string

from crib.agents.domains import extract as ex
from crib.agents.domains.base import Domain
from crib.agents.problems import Problem

_PUNCT = set(string.punctuation)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _normalize_token(token: str) -> str:
    token = token.lower()
    if not _is_number(token):
        token = "".join(ch for ch in token if ch not in _PUNCT)
    token = re.sub(r"\b(a|an|the)\b", " ", token)
    if _is_number(token):
        token = str(float(token))
    return " ".join(token.split())


def normalize_answer(text: str) -> str:
    parts = [_normalize_token(t) for t in re.split(r" |-", text)]
    return " ".join(p for p in parts if p.strip()).strip()


def _bags(answer: str | list[str] | tuple[str, ...]) -> list[set[str]]:
    spans = list(answer) if isinstance(answer, (list, tuple)) else [answer]
    return [set(normalize_answer(str(s)).split()) for s in spans]


def _f1(pred: set[str], gold: set[str]) -> float:
    common = len(pred & gold)
    precision = 1.0 if not pred else common / len(pred)
    recall = 1.0 if not gold else common / len(gold)
    if precision == 0.0 and recall == 0.0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _numbers_agree(gold: set[str], pred: set[str]) -> bool:
    gold_numbers = {w for w in gold if _is_number(w)}
    return not gold_numbers or bool(gold_numbers & {w for w in pred if _is_number(w)})


def drop_f1(predicted: str | list[str], gold: str | list[str] | tuple[str, ...]) -> float:
    """Token F1 of one prediction against one gold answer (spans aligned optimally)."""
    pred_bags, gold_bags = _bags(predicted), _bags(gold)
    scores = [[_f1(p, g) if _numbers_agree(g, p) else 0.0 for p in pred_bags] for g in gold_bags]
    n = max(len(gold_bags), len(pred_bags))
    best = 0.0
    # Spans are few (DROP has at most a handful); try every assignment of gold to predicted.
    if len(pred_bags) <= 6:
        k = min(len(pred_bags), len(gold_bags))
        for perm in itertools.permutations(range(len(pred_bags)), k):
            best = max(best, sum(scores[g][p] for g, p in enumerate(perm)))
    else:  # greedy fallback for unusually many spans
        used: set[int] = set()
        for row in scores:
            choice = max((i for i in range(len(row)) if i not in used), key=row.__getitem__,
                         default=None)
            if choice is not None:
                used.add(choice)
                best += row[choice]
    return best / n if n else 0.0


def max_f1(predicted: str | None, targets: object) -> float:
    if predicted is None or not str(predicted).strip():
        return 0.0
    golds = targets if isinstance(targets, list) else [targets]
    # a gold is one answer or a multi-span list; a bare number is compared as its text
    return max((drop_f1(predicted, g if isinstance(g, (list, tuple)) else str(g))
                for g in golds if g is not None), default=0.0)


class Drop(Domain):
    name = "drop"
    description = "DROP reading comprehension: answer from the passage (spans, numbers, dates)"
    answer_format = (
        "Answer the question from the passage. End your reply with a final line of the form "
        "`Answer: <answer>`, giving only the short answer (a number, a date or a span of the "
        "passage)."
    )

    def extract(self, text: str | None) -> str | None:
        text = ex.clip(text)
        candidate = (ex.tagged(text) or ex.answer_line(text) or ex.boxed(text)
                     or ex.answer_is(text) or ex.last_fenced(text) or ex.last_nonempty_line(text))
        candidate = ex.unwrap(candidate)
        if candidate is None:
            return None
        return candidate.strip().strip("*_`").strip() or None

    async def score(self, problem: Problem, answer: str | None) -> float:
        return max_f1(answer, problem.target)
