"""Where problem evaluations run: the seam `crib solve` and meta search both fan out through.

`LocalExecutor` runs them on this process's event loop (`agents.solve.solve_batch`);
`agents.ray_executor.RayExecutor` runs them on a Ray cluster and hands every outcome back to
the caller's `on_outcome` in this process, so results, archives and JSONL files are written
here exactly as with the local executor.

An executor's `run` takes `(position, problem)` pairs, the domain, the agent spec, the
`SolveContext`, the loop policy, a concurrency and `on_outcome(position, outcome)`; it returns
the outcomes in the order they finished and lets `BudgetExceeded` propagate after it stops
starting new problems.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence


class Executor(Protocol):
    name: str

    async def run(self, items: Sequence[tuple[int, Any]], domain: Any, spec: Any, ctx: Any,
                  policy: Any, *, concurrency: int,
                  on_outcome: Callable[[int, Any], Any]) -> list[Any]: ...

    def close(self) -> None: ...


class ExecutorUnavailable(Exception):
    """The executor cannot run here (not installed, no cluster, a database it cannot share)."""


class LocalExecutor:
    name = "local"

    async def run(self, items, domain, spec, ctx, policy, *, concurrency, on_outcome):
        from crib.agents.solve import solve_batch

        return await solve_batch(items, domain, spec, ctx, policy, concurrency=concurrency,
                                 on_outcome=on_outcome)

    def close(self) -> None:
        pass


EXECUTORS = ("local", "ray")


def make_executor(name: str, address: str | None = None, setup: Any = None) -> Executor:
    """`setup` (a `agents.ray_executor.WorkerSetup`) tells Ray workers how to build their own
    sandbox, database engine and LLM client; crib's wiring makes it from the config."""
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        from crib.agents.ray_executor import RayExecutor, require_ray

        require_ray()
        if setup is None:
            raise ExecutorUnavailable("the Ray executor needs a worker setup (crib builds it)")
        return RayExecutor(address, setup)
    raise ExecutorUnavailable(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
