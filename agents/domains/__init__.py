"""Problem domains: what to ask for, how to extract the answer, how to score and check it.

    from crib.agents.domains import get_domain, DOMAINS
    d = get_domain("game24")
    problems = d.generate(10, seed=1)                 # or d.load("puzzles.jsonl")
    answer = d.extract(reply_text)
    verdict = await d.check(problems[0], answer)       # target-free, feeds the verifier loop
    score = await d.score(problems[0], answer)         # 0..1 against the target

`score` and `check` are async on every domain (see `agents.domains.base`). Code synthesis runs
answers in the sandbox: pass `run_snippet=` (the snippet tier) to `get_domain`.
"""

from __future__ import annotations

from crib.agents.domains.arc import Arc
from crib.agents.domains.base import Domain, DomainError, RunSnippet
from crib.agents.domains.code_synthesis import CodeSynthesis
from crib.agents.domains.drop import Drop
from crib.agents.domains.equation_balancer import EquationBalancer
from crib.agents.domains.free import Free
from crib.agents.domains.game24 import Game24
from crib.agents.domains.math_numeric import MathNumeric
from crib.agents.domains.multiple_choice import MultipleChoice

_CLASSES: dict[str, type[Domain]] = {
    cls.name: cls
    for cls in (Game24, EquationBalancer, MathNumeric, MultipleChoice, CodeSynthesis, Arc, Drop,
                Free)
}
DOMAINS: tuple[str, ...] = tuple(_CLASSES)


class UnknownDomain(DomainError, KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def get_domain(name: str, run_snippet: RunSnippet | None = None) -> Domain:
    """A fresh domain by name ("equation_balancer" works for "equation-balancer")."""
    key = name.strip().lower().replace("_", "-")
    cls = _CLASSES.get(key)
    if cls is None:
        raise UnknownDomain(f"unknown domain {name!r}; known domains: {', '.join(DOMAINS)}")
    return cls(run_snippet=run_snippet)


__all__ = ["DOMAINS", "Domain", "DomainError", "RunSnippet", "UnknownDomain", "get_domain"]
