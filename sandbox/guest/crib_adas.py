"""The ADAS adapter: an agent written as ADAS's `forward(self, taskInfo)` becomes `forward(task)`.

Crib runs one agent API, `forward(task)`. When an ADAS agent is loaded, the host appends two
lines to its code (crib.agents.library.program_of) that pass its `forward` through
`adapt_forward`, so the code itself runs unchanged, with its own line numbers."""
from __future__ import annotations

from crib_runtime import Info

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (postponed)
    from typing import Any, Callable


class AgentSystem:
    """The `self` of an ADAS `forward(self, taskInfo)`. Unknown attributes resolve to names the
    agent's code defined at module level, which some ADAS agents call as `self.helper(...)`."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self._namespace = namespace

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_namespace"][name]
        except KeyError:
            raise AttributeError(f"the agent has no attribute {name!r}") from None


def adapt_forward(adas_forward: Callable[[Any, Info], Any]) -> Callable[[str], Any]:
    """`forward(task)` calling `adas_forward(self, Info('task', 'User', task, -1))`; an `Info`
    it returns gives its content, as in ADAS."""
    system = AgentSystem(adas_forward.__globals__)

    def forward(task: str) -> Any:
        result = adas_forward(system, Info("task", "User", task, -1))
        return result.content if isinstance(result, Info) else result

    return forward
