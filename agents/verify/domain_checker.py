"""The domain's own target-free checker (Game of 24, equation balancer, code with tests)."""
from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

from crib.agents.problems import Problem
from crib.agents.verdict import Verdict
from crib.agents.verify.base import VerifyContext, clip


class DomainChecker:
    name = "domain"
    needs_samples = False

    async def verify(self, problem: Problem, answer: Any, ctx: VerifyContext) -> Verdict:
        check = getattr(ctx.domain, "check", None)
        if check is None:
            return Verdict(passed=None, verifier=self.name,
                           feedback="This domain has no target-free checker.")
        kwargs = {}
        if _takes_sandbox(getattr(check, "__func__", check)):
            kwargs["sandbox"] = ctx.sandbox  # checkers that run code (hidden tests)
        try:
            verdict = check(problem, answer, **kwargs)
            if inspect.isawaitable(verdict):
                verdict = await verdict
        except Exception as exc:  # a checker bug must not kill the batch
            return Verdict(passed=None, verifier=self.name,
                           feedback=clip(f"checker failed: {type(exc).__name__}: {exc}"))
        if verdict is None and answer is None:  # the checker's words are better when it has some
            return Verdict(passed=False, score=0.0, verifier=self.name,
                           feedback="No answer could be extracted; follow the answer format.")
        if verdict is None:
            return Verdict(passed=None, verifier=self.name,
                           feedback="The checker could not decide on this answer.")
        return verdict


def _takes_sandbox(check: Any) -> bool:
    """Whether a checker takes `sandbox` (inspect.signature is slow: once per function)."""
    try:
        return _signature_has_sandbox(check)
    except TypeError:  # an unhashable callable: ask every time
        return _signature_has_sandbox.__wrapped__(check)


@lru_cache(maxsize=256)
def _signature_has_sandbox(check: Any) -> bool:
    try:
        return "sandbox" in inspect.signature(check).parameters
    except (TypeError, ValueError):
        return False
