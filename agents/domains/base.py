"""The Domain base class: what a kind of problem asks for and how its answers are judged.

Design (one rule for every domain): `score` and `check` are **async** on every domain, even where
the work is pure arithmetic, because code-synthesis must run the answer in the sandbox's snippet
tier and callers (solve loop, verifiers, meta search) should not care which domain they hold.
Everything else (`render`, `extract`, `generate`, `load`) is synchronous.

- `render(problem) -> str`: the task text for the agent (the answer format goes separately).
- `extract(reply) -> str | None`: the answer in a canonical string form, tolerant of how models
  format replies; None when no answer can be found.
- `await score(problem, answer) -> float | None`: 0..1 against the gold target (or the checker
  where the domain needs no target, e.g. game24); None only for unscorable domains (`free`).
- `await check(problem, answer) -> Verdict | None`: the target-free checker that feeds the
  verifier loop. It must never read `problem.target`. None where the domain has no checker.
- `generate(n, seed) -> list[Problem]` where `can_generate` (same seed, same problems).
- `load(path, ...)`: the shared JSONL/CSV loader plus this domain's input validation.

Domains that execute answers receive a `run_snippet` callable (the sandbox's snippet tier) from
the wiring; a domain never runs model output in the host process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, Protocol

from crib.agents.problems import LoadResult, Problem, load_problems
from crib.agents.verdict import Verdict

# async run_snippet(code, timeout_s) -> {"ok", "stdout", "stderr", "value", "error"}
RunSnippet = Callable[[str, float], Awaitable[dict[str, Any]]]


class DomainError(Exception):
    """A domain cannot do what was asked (generate, score without a sandbox, ...)."""


class DomainProtocol(Protocol):
    """What the loop, the verifiers and the executors use of a domain (the seam's type);
    every `Domain` below satisfies it."""

    name: str
    answer_format: str
    has_checker: bool

    def render(self, problem: Problem) -> str: ...

    def extract(self, text: str | None) -> str | None: ...

    async def score(self, problem: Problem, answer: str | None) -> float | None: ...

    async def check(self, problem: Problem, answer: str | None) -> Verdict | None: ...


class Domain:
    name: str = ""
    description: str = ""
    answer_format: str = ""
    scorable: bool = True  # False: score() returns None (chat)
    has_checker: bool = False  # True: check() returns a Verdict without the target
    can_generate: bool = False

    def __init__(self, run_snippet: RunSnippet | None = None) -> None:
        self.run_snippet = run_snippet

    def render(self, problem: Problem) -> str:
        if isinstance(problem.input, str):
            return problem.input
        raise DomainError(f"{self.name}: cannot render a structured input for {problem.id}")

    def extract(self, text: str | None) -> str | None:
        raise NotImplementedError

    async def score(self, problem: Problem, answer: str | None) -> float | None:
        raise NotImplementedError

    async def check(self, problem: Problem, answer: str | None) -> Verdict | None:
        return None

    def generate(self, n: int, seed: int = 0) -> list[Problem]:
        raise DomainError(f"domain {self.name!r} cannot generate problems; give it a dataset file")

    def validate_input(self, problem: Problem) -> None:
        """Raise ValueError (with a readable message) for inputs this domain cannot use."""

    def load(self, path: str | Path, input_field: str = "input", target_field: str = "target",
             id_field: str = "id", on_error: Literal["stop", "skip"] = "stop") -> LoadResult:
        return load_problems(path, input_field=input_field, target_field=target_field,
                             id_field=id_field, on_error=on_error, validate=self.validate_input)

    def __repr__(self) -> str:
        return f"<Domain {self.name}>"
