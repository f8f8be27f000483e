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

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only: the loop's modules load when a batch first runs
    from crib.agents.domains.base import DomainProtocol
    from crib.agents.library import AgentSpec
    from crib.agents.loop import LoopPolicy, ProblemOutcome, SolveContext
    from crib.agents.problems import Problem
    from crib.agents.ray_executor import WorkerSetup

# on_outcome(position, outcome), in the calling process; may be async.
OutcomeSink = Callable[[int, "ProblemOutcome"], Awaitable[None] | None]


class Executor(Protocol):
    """What crib's wiring (`crib.executor_wiring.open_executor`) and its callers use."""

    name: str

    def connect(self) -> None:
        """Join and check where problems will run; raises `ExecutorUnavailable`."""

    async def run(self, items: Sequence[tuple[int, Problem]], domain: DomainProtocol,
                  spec: AgentSpec, ctx: SolveContext, policy: LoopPolicy, *, concurrency: int,
                  on_outcome: OutcomeSink) -> list[ProblemOutcome]: ...

    def close(self) -> None: ...

    def report(self) -> str | None:
        """One line on how much ran where, for the user; None when there is nothing to say."""


class ExecutorUnavailable(Exception):
    """The executor cannot run here (not installed, no cluster, a database it cannot share)."""


class LocalExecutor:
    name = "local"

    def connect(self) -> None:
        pass

    async def run(self, items: Sequence[tuple[int, Problem]], domain: DomainProtocol,
                  spec: AgentSpec, ctx: SolveContext, policy: LoopPolicy, *, concurrency: int,
                  on_outcome: OutcomeSink) -> list[ProblemOutcome]:
        # Here, not at the top: a cycle (solve imports OutcomeSink from here), and crib checks
        # --executor before the sandbox starts: the loop's modules load when a batch first runs.
        from crib.agents.solve import solve_batch

        return await solve_batch(items, domain, spec, ctx, policy, concurrency=concurrency,
                                 on_outcome=on_outcome)

    def close(self) -> None:
        pass

    def report(self) -> str | None:
        return None


EXECUTORS = ("local", "ray")


def make_executor(name: str, address: str | None = None,
                  setup: WorkerSetup | None = None) -> Executor:
    """`setup` (a `agents.ray_executor.WorkerSetup`) tells Ray workers how to build their own
    sandbox, database engine and LLM client; crib's wiring makes it from the config."""
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        # A cycle (ray_executor builds on LocalExecutor); Ray itself (optional, crib[ray])
        # loads in require_ray.
        from crib.agents.ray_executor import RayExecutor, require_ray

        require_ray()
        if setup is None:
            raise ExecutorUnavailable("the Ray executor needs a worker setup (crib builds it)")
        return RayExecutor(address, setup)
    raise ExecutorUnavailable(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
