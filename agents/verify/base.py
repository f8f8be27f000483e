"""What every verifier gets and returns, and how several verdicts combine into one decision.

A verifier looks at one answer to one problem and returns a `Verdict`. It never sees the gold
target: the loop hands it a copy of the problem with `target=None`, so a verifier that feeds
the loop cannot leak the answer key into feedback or into the choice of the final answer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from crib.agents.problems import Problem
from crib.agents.verdict import Verdict

if TYPE_CHECKING:
    from crib.agents.domains.base import DomainProtocol
    from crib.agents.llm import LLM
    from crib.sandbox import Limits, RunResult
    from crib.sandbox.limits import Tier


@dataclass
class VerifyUsage:
    """Model spend of verifiers (an LLM judge) so the loop can charge it to the attempt."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0


class SnippetRunner(Protocol):
    """What a verifier runs code with: the `Sandbox`, or the transcripts' `RecordingSandbox`
    around it (agents/transcripts.py), which records each run as the attempt's."""

    async def run(self, code: str, tier: Tier = ..., *,
                  limits: Limits | None = ...) -> RunResult: ...


@dataclass
class VerifyContext:
    domain: DomainProtocol | None
    task: str = ""  # the rendered task text the agent saw (without retry feedback)
    raw_output: str = ""  # the agent's full return value as text
    samples: list[Any] = field(default_factory=list)  # answers of this problem's attempts so far
    sandbox: SnippetRunner | None = None
    llm: LLM | None = None
    run_id: str | None = None
    attempt: int = 0
    attempt_id: str | None = None
    usage: VerifyUsage = field(default_factory=VerifyUsage)


@runtime_checkable
class Verifier(Protocol):
    name: str
    # True when the verdict depends on the other samples (re-run once all samples exist).
    needs_samples: bool

    async def verify(self, problem: Problem, answer: Any, ctx: VerifyContext) -> Verdict: ...


def without_target(problem: Problem) -> Problem:
    return problem.model_copy(update={"target": None})


def combine(verdicts: list[Verdict]) -> tuple[bool | None, float | None]:
    """One decision from many: any fail fails, else any pass passes, else unknown.

    The score is the mean of the scores the verifiers gave (None when none gave one).
    """
    decided = [v.passed for v in verdicts if v.passed is not None]
    passed: bool | None
    if any(p is False for p in decided):
        passed = False
    elif decided:
        passed = True
    else:
        passed = None
    scores = [v.score for v in verdicts if v.score is not None]
    return passed, (sum(scores) / len(scores) if scores else None)


def clip(text: str, limit: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 20] + " ...[truncated]"
