"""An LLM judge (role `judge`) that grades an answer against a rubric, without the gold target.

The reply is structured output `{passed, score, feedback}`; a reply that cannot be parsed, or
an endpoint error, is an unknown verdict saying so (never a silent pass). A run-wide
`BudgetExceeded` propagates so the run stops cleanly.
"""
from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from crib.agents.llm.errors import BudgetExceeded
from crib.agents.problems import Problem
from crib.agents.verdict import Verdict
from crib.agents.verify.base import VerifyContext, clip

DEFAULT_RUBRIC = (
    "The answer is correct, answers exactly what the task asks, follows the required answer "
    "format and contains no errors in its reasoning or arithmetic."
)


class JudgeReply(BaseModel):
    passed: bool
    score: float = Field(ge=0.0, le=1.0)
    feedback: str = ""


def judge_messages(task: str, answer: Any, rubric: str, answer_format: str) -> list[dict]:
    shown = answer if isinstance(answer, str) else json.dumps(answer)
    user = (
        f"Task:\n{task}\n\nRequired answer format: {answer_format}\n\n"
        f"Answer to grade:\n{shown}\n\nRubric: {rubric}\n\n"
        'Reply with JSON only: {"passed": true or false, "score": a number from 0 to 1, '
        '"feedback": "one or two sentences on what is wrong, or why it is right"}'
    )
    return [
        {"role": "system", "content": "You are a strict, careful grader."},
        {"role": "user", "content": user},
    ]


class LLMJudge:
    name = "llm-judge"
    needs_samples = False

    def __init__(self, rubric: str = DEFAULT_RUBRIC, role: str = "judge"):
        self.rubric = rubric
        self.role = role

    async def verify(self, problem: Problem, answer: Any, ctx: VerifyContext) -> Verdict:
        if ctx.llm is None:
            return Verdict(passed=None, verifier=self.name, feedback="No judge model available.")
        if answer is None:
            return Verdict(passed=False, score=0.0, verifier=self.name,
                           feedback="No answer could be extracted from the reply.")
        fmt = str(getattr(ctx.domain, "answer_format", "") or "")
        messages = judge_messages(ctx.task, answer, self.rubric, fmt)
        ctx.usage.calls += 1
        try:
            reply = await ctx.llm.structured(
                messages, JudgeReply, role=self.role, attempt=ctx.attempt,
                run_id=ctx.run_id, attempt_id=ctx.attempt_id, usage=ctx.usage)
        except BudgetExceeded:
            raise
        except Exception as exc:  # malformed reply or endpoint error: unknown, with the reason
            return Verdict(passed=None, verifier=self.name,
                           feedback=clip(f"judge failed: {type(exc).__name__}: {exc}", 300))
        return Verdict(passed=reply.passed, score=reply.score, verifier=self.name,
                       feedback=clip(reply.feedback or ("Looks right." if reply.passed else
                                                        "Judged wrong.")))
