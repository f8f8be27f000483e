"""Where problem evaluations run. `LocalExecutor` fans out on this process's event loop
through `agents.solve.solve_batch`; other executors implement the same `run`.

A Ray executor (`--executor ray`) is not implemented yet: `make_executor("ray")` says so
clearly instead of silently running locally.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence


class Executor(Protocol):
    name: str

    async def run(self, items: Sequence[tuple[int, Any]], domain: Any, spec: Any, ctx: Any,
                  policy: Any, *, concurrency: int,
                  on_outcome: Callable[[int, Any], Any]) -> list[Any]: ...


class LocalExecutor:
    name = "local"

    async def run(self, items, domain, spec, ctx, policy, *, concurrency, on_outcome):
        from agents.solve import solve_batch

        return await solve_batch(items, domain, spec, ctx, policy, concurrency=concurrency,
                                 on_outcome=on_outcome)


class ExecutorUnavailable(Exception):
    pass


def make_executor(name: str, address: str | None = None) -> Executor:
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        raise ExecutorUnavailable(
            "the Ray executor is not implemented in this build (and `ray` is not installed); "
            "use --executor local")
    raise ExecutorUnavailable(f"unknown executor {name!r}; known: local, ray")
