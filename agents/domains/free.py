"""Free-form chat: no answer format, no scorer, no checker."""

from __future__ import annotations

from crib.agents.domains import extract as ex
from crib.agents.domains.base import Domain
from crib.agents.problems import Problem


class Free(Domain):
    name = "free"
    description = "Free-form questions and chat; answers are not scored"
    answer_format = ""
    scorable = False

    def render(self, problem: Problem) -> str:
        if isinstance(problem.input, str):
            return problem.input
        return str(problem.input.get("text") or problem.input.get("question") or problem.input)

    def extract(self, text: str | None) -> str | None:
        text = ex.clip(text).strip()
        return text or None

    async def score(self, problem: Problem, answer: str | None) -> None:
        return None
