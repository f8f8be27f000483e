"""Verifiers: target-free checks of an answer that feed the loop (see `agents.loop`).

`default_verifiers(domain)` picks what applies to a domain:
- a domain with a target-free checker (game24, equation-balancer, code-synthesis): its checker;
  code-synthesis also runs the answer's code;
- free text (`free`, chat): an LLM judge;
- everything else (math-numeric, multiple-choice, drop, arc): agreement across samples, which
  decides only once there are several samples (best-of-n, vote) and is unknown otherwise.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from crib.agents.verify.agreement import Agreement, answer_key, majority
from crib.agents.verify.base import (VerifyContext, Verifier, VerifyUsage, combine,
                                without_target)
from crib.agents.verify.code_execution import CodeExecution, code_in
from crib.agents.verify.domain_checker import DomainChecker
from crib.agents.verify.llm_judge import DEFAULT_RUBRIC, JudgeReply, LLMJudge

if TYPE_CHECKING:
    from crib.agents.domains.base import DomainProtocol

CHECKED_DOMAINS = {"game24", "equation-balancer", "code-synthesis"}


def _has_checker(domain: DomainProtocol | None) -> bool:
    flag = getattr(domain, "has_checker", None)
    if flag is not None:
        return bool(flag)
    return getattr(domain, "name", None) in CHECKED_DOMAINS


def default_verifiers(domain: DomainProtocol | None) -> list[Verifier]:
    name = getattr(domain, "name", None)
    if name == "code-synthesis":
        return [DomainChecker(), CodeExecution()]
    if _has_checker(domain):
        return [DomainChecker()]
    if name == "free":
        return [LLMJudge()]
    return [Agreement()]


def make_verifier(name: str) -> Verifier:
    """A verifier by its name (`domain`, `code-execution`, `llm-judge`, `agreement`)."""
    table = {"domain": DomainChecker, "code-execution": CodeExecution, "llm-judge": LLMJudge,
             "agreement": Agreement}
    if name not in table:
        raise ValueError(f"unknown verifier {name!r}; known: {', '.join(table)}")
    return table[name]()


__all__ = [
    "Agreement", "CodeExecution", "DEFAULT_RUBRIC", "DomainChecker", "JudgeReply", "LLMJudge",
    "VerifyContext", "VerifyUsage", "Verifier", "answer_key", "code_in", "combine",
    "default_verifiers", "majority", "make_verifier", "without_target",
]
