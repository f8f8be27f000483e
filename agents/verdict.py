"""Verdict: what one verifier says about one answer.

Verifiers (domain checkers, executed tests, an LLM judge, a vote) all return this record, and
the verifier loop decides on it: `passed` is True/False when the verifier could decide and None
when it could not (unknown); `feedback` is text the loop may show the agent on a retry, so it
says what was wrong in words a model can act on.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Verdict(BaseModel):
    passed: bool | None
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    feedback: str = ""
    verifier: str

    @property
    def unknown(self) -> bool:
        return self.passed is None
