"""Multiple choice with letter answers A-J (GPQA, MMLU-Pro style).

The options live inside the input text ("(A) ...\\n(B) ..."). Extraction accepts "Answer: C",
"Answer: (C)", "the answer is (C)", "\\boxed{C}", "**C**" and a reply that is just "C" or "(C).";
it never takes the C of a word such as "Carbon". Targets may be "(C)", "C" or "c".
"""

from __future__ import annotations

import re

from crib.agents.domains import extract as ex
from crib.agents.domains.base import Domain
from crib.agents.problems import Problem

LETTERS = "ABCDEFGHIJ"
_LETTER = re.compile(r"^[\s*_`(\[]*([A-J])(?:[\s*_`)\].:,]|$)")
_LOWER = re.compile(r"^[\s*_`(\[]*([a-j])(?:\)|[.:]?\s*$)")  # "c)" or "c", not "a cat"
_BARE = re.compile(r"^[\s*_`(\[]*([A-J])[\s*_`)\].:]*$")
_PAREN = re.compile(r"\(([A-J])\)")
_PHRASE = re.compile(  # the keyword is case-insensitive, the letter is not ("answer: a cat")
    r"(?i:answer|option|choice)\s*(?:(?i:is)|:|=)?\s*(?:(?i:option|choice)\s+)?[*_`]*\(?"
    r"([A-J])\)?(?![A-Za-z])")


def letter_of(text: str | None) -> str | None:
    """A single option letter at the start of `text` ("C", "(C)", "c.", "**C**) ...")."""
    if not text:
        return None
    m = _LETTER.match(text.strip()) or _LOWER.match(text.strip())
    return m.group(1).upper() if m else None


class MultipleChoice(Domain):
    name = "multiple-choice"
    description = "Multiple-choice questions with options (A)-(J); answer with one letter"
    answer_format = (
        "Choose exactly one option. End your reply with a final line of the form "
        "`Answer: (X)` where X is the letter of your choice, for example `Answer: (C)`."
    )

    def extract(self, text: str | None) -> str | None:
        text = ex.clip(text)
        for candidate in (ex.tagged(text), ex.answer_line(text), ex.boxed(text),
                          ex.answer_is(text), ex.last_fenced(text)):
            letter = letter_of(ex.unwrap(candidate))
            if letter:
                return letter
        phrases = _PHRASE.findall(text)
        if phrases:
            return phrases[-1].upper()
        last = ex.last_nonempty_line(text)
        bare = _BARE.match(last or "")
        if bare:
            return bare.group(1)
        parens = _PAREN.findall(last or "")
        return parens[-1] if len(set(parens)) == 1 else None

    async def score(self, problem: Problem, answer: str | None) -> float:
        want = letter_of(str(problem.target)) if problem.target is not None else None
        got = letter_of(answer)
        return 1.0 if want is not None and got == want else 0.0
