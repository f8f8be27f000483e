"""Run the answer's code in the sandbox's snippet tier: does it run (and print something)?

The code is the answer's fenced Python block when there is one, else the whole answer when it
parses as Python. Parsing happens on the host (`ast.parse` runs nothing); running only in the
sandbox.
"""
from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Any

from crib.agents.problems import Problem
from crib.agents.verdict import Verdict
from crib.agents.verify.base import VerifyContext, clip

if TYPE_CHECKING:
    from crib.sandbox import Limits

_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def code_in(text: str) -> str | None:
    """The last fenced Python block of `text`, else `text` itself when it is Python code."""
    blocks = _FENCE.findall(text or "")
    if blocks:
        return blocks[-1].strip("\n") + "\n"
    candidate = (text or "").strip()
    if not candidate or "\n" not in candidate and not candidate.startswith(("def ", "print(")):
        return None  # a one-line answer such as "42" is not a program
    try:
        ast.parse(candidate)
    except (SyntaxError, ValueError):
        return None
    return candidate + "\n"


class CodeExecution:
    """Pass when the code exits cleanly (and, with `require_output`, prints something)."""

    name = "code-execution"
    needs_samples = False

    def __init__(self, require_output: bool = False, limits: Limits | None = None):
        self.require_output = require_output
        self.limits = limits

    async def verify(self, problem: Problem, answer: Any, ctx: VerifyContext) -> Verdict:
        code = code_in(answer if isinstance(answer, str) else ctx.raw_output)
        if code is None:
            return Verdict(passed=None, verifier=self.name, feedback="No code in the answer.")
        if ctx.sandbox is None:
            return Verdict(passed=None, verifier=self.name,
                           feedback="No sandbox available to run the code.")
        result = await ctx.sandbox.run(code, tier="snippet", limits=self.limits)
        if not result.ok:
            what = f"hit the {result.limit_hit} limit" if result.limit_hit else \
                f"failed (exit code {result.exit_code})"
            detail = result.error or result.stderr or ""
            return Verdict(passed=False, score=0.0, verifier=self.name,
                           feedback=clip(f"Running the code {what}: {detail}"))
        out = (result.stdout or "").strip()
        if self.require_output and not out:
            return Verdict(passed=False, score=0.0, verifier=self.name,
                           feedback="The code ran but printed nothing; print the result.")
        shown = f" Output: {clip(out, 300)}" if out else ""
        return Verdict(passed=True, score=1.0, verifier=self.name,
                       feedback="The code ran without errors." + shown)
