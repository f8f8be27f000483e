"""The ADAS adapter, host side: which API an agent's code is written in, and the program the
sandbox runs for it.

Crib runs one agent API, `forward(task)`. ADAS agents (`forward(self, taskInfo)` built from
`LLMAgentBase`) keep their code unchanged: the program sent to the sandbox is that code plus
two lines at the end that pass its `forward` through the guest's `crib_adas.adapt_forward`
(appended, so a traceback's line numbers are the agent's own). Parsing only: nothing runs here.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from typing import Literal

AgentAPI = Literal["crib", "adas"]

ADAPTER = (
    "\n\n# Added by Crib's ADAS adapter: this agent is written as forward(self, taskInfo).\n"
    "from crib_adas import adapt_forward as _crib_adapt_forward  # noqa: E402\n"
    "forward = _crib_adapt_forward(forward)\n"
)


@lru_cache(maxsize=256)  # asked on every attempt: parsing a seed costs ≈0.5 ms of CPU
def agent_api(code: str) -> AgentAPI:
    """"adas" when the top-level `forward` is ADAS's `forward(self, taskInfo)`: its first
    parameter is `self`, or it takes two positional parameters and neither has a default
    (`forward(task, n=5)` is Crib's). Else "crib", also for code that does not parse (the
    sandbox reports its syntax error)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return "crib"
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "forward":
            positional = [a.arg for a in node.args.posonlyargs + node.args.args]
            adas = positional[:1] == ["self"] or (len(positional) == 2
                                                  and not node.args.defaults)
            return "adas" if adas else "crib"
    return "crib"


def program_of(code: str) -> str:
    """What the sandbox runs for `code`: the code itself, or for an ADAS agent the code with
    the adapter appended."""
    return code if agent_api(code) == "crib" else code.rstrip("\n") + "\n" + ADAPTER
