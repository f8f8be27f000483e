"""The Ray executor: problem evaluations fan out over a Ray cluster; outcomes come back here.

Why actors, not one task per problem: a worker needs a started sandbox (a fork-server and a
uid block), a database engine and an LLM client with its HTTP connections; building those
per problem would cost more than most problems. So the executor starts a small pool of async
actors (one per cluster CPU, at most one per problem in flight, spread over the nodes), each
building its parts once from the same resolved config, and sends each problem to the actor
with the fewest in flight. The host keeps at most `concurrency` problems in flight, submits
them in dataset order, and calls `on_outcome` here for each finished one, so results, archive
rows and JSONL lines are written by the caller exactly as with the local executor.

What runs where: the agent, its sandbox, the verifiers and the model calls run on the workers;
their LLM cache and ledger rows go to the run's database (shared: PostgreSQL, or the SQLite
file when every node is this machine). Budgets: before each problem a worker re-reads the
run's spend from the ledger, and the host re-reads it before submitting each problem, so a
spent budget stops new work everywhere; calls in flight finish (as with the local executor).
A batch with a memory hook runs on the host: the cheatsheet learns problem by problem, in
order, and its vector index is this machine's Chroma directory.

Secrets: API keys travel only as constructor arguments of the actors (never in a runtime_env,
job metadata, actor names or logs; `Secrets` masks its repr); a worker whose own environment
already has the variable keeps its own value. Keys enter a worker's environment only after its
sandbox has started, and the sandbox starts its guests with a cleared environment.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import os
import re
import socket
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from crib.agents.executors import ExecutorUnavailable, LocalExecutor, OutcomeSink
from crib.agents.llm.errors import BudgetExceeded

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from crib.agents.domains.base import DomainProtocol
    from crib.agents.library import AgentSpec
    from crib.agents.llm import LLM
    from crib.agents.loop import LoopPolicy, ProblemOutcome, SolveContext
    from crib.agents.problems import Problem
    from crib.agents.verify import Verifier
    from crib.sandbox import Limits, Sandbox

INSTALL_HINT = "pip install 'crib[ray]'"
START_TIMEOUT_S = 300.0  # workers import Crib and start a sandbox each; a busy node is slow


def require_ray() -> ModuleType:
    try:
        import ray  # optional (crib[ray]) and heavy (≈0.5 s)
    except ImportError as exc:
        raise ExecutorUnavailable(
            f"--executor ray needs the `ray` package, which is not installed here: "
            f"{INSTALL_HINT} (on this machine and on every node of the cluster)") from exc
    return ray


class Secrets:
    """Environment variables (API keys) a worker needs; the values never show in a repr."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self._values = {k: v for k, v in (values or {}).items() if v}

    def __repr__(self) -> str:
        return f"Secrets({', '.join(f'{k}=***' for k in self._values)})"

    def names(self) -> list[str]:
        return list(self._values)

    def export(self) -> None:
        """Into this process's environment, where a worker's own value is not set already."""
        for name, value in self._values.items():
            os.environ.setdefault(name, value)


class WorkerContext(Protocol):
    """What a worker builds once and solves with (crib's `Context` is one)."""

    llm: LLM
    sandbox: Sandbox | None  # a worker's always has one; crib's Context may not
    engine: Engine

    def domain(self, name: str) -> DomainProtocol: ...


@dataclass
class WorkerSetup:
    """How a Ray worker builds its parts. `open_context(payload, secrets)` is a module-level
    async context manager (pickled by reference, imported on the worker) yielding an object
    with `.llm`, `.sandbox`, `.engine` and `.domain(name)` (crib's `Context`)."""

    open_context: Callable[[dict, Secrets], AbstractAsyncContextManager[WorkerContext]]
    payload: dict
    secrets: Secrets = field(default_factory=Secrets)
    database_url: str = ""  # for the shared-database check (shown with its password hidden)
    loopback_endpoints: list[str] = field(default_factory=list)  # model URLs only this host reaches
    workers: int | None = None  # actors at most (None: the cluster's CPUs)


def _hide_password(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url  # heavy; this module stays light for crib

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database url>"


def is_local_address(ip: str) -> bool:
    """True when `ip` is an address of this machine (binding to it works only then)."""
    if ip.startswith("127.") or ip in ("::1", "localhost"):
        return True
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.bind((ip, 0))
        return True
    except OSError:
        return False


class SolveWorker:
    """One Ray actor: its own sandbox, database engine and LLM client, serving many problems."""

    def __init__(self, setup: WorkerSetup) -> None:
        self._setup = setup
        self._stack: AsyncExitStack | None = None
        self._ctx: WorkerContext | None = None
        self._domains: dict[str, DomainProtocol] = {}

    async def start(self) -> dict:
        stack = AsyncExitStack()
        self._ctx = await stack.enter_async_context(
            self._setup.open_context(self._setup.payload, self._setup.secrets))
        self._stack = stack
        return {"host": socket.gethostname(), "pid": os.getpid()}

    async def solve(self, problem: Problem, domain_name: str, spec: AgentSpec,
                    policy: LoopPolicy, run_id: str | None, limits: Limits | None,
                    verifiers: list[Verifier] | None) -> tuple:
        """("ok", outcome) or ("budget", message, budget, limit, spent): the budget error is
        sent as plain values because its exception class does not survive pickling."""
        # The loop loads on the worker when it first solves: crib's --executor check
        # imports this module before the sandbox starts.
        from crib.agents.loop import SolveContext, solve_problem

        ctx = self._ctx
        if ctx is None:
            raise RuntimeError("SolveWorker.solve before start()")
        if domain_name not in self._domains:
            self._domains[domain_name] = ctx.domain(domain_name)
        forget = getattr(ctx.llm.budget, "forget", None)
        if forget is not None:  # other workers spent too: re-read the ledger at the next check
            forget(run_id)
        solve_ctx = SolveContext(llm=ctx.llm, sandbox=ctx.sandbox, run_id=run_id,
                                 engine=ctx.engine, limits=limits, verifiers=verifiers)
        try:
            outcome = await solve_problem(problem, self._domains[domain_name], spec, solve_ctx,
                                          policy)
        except BudgetExceeded as exc:
            return ("budget", str(exc), exc.budget, exc.limit, exc.spent)
        return ("ok", outcome)

    async def close(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None, setup: WorkerSetup) -> None:
        self.address = address
        self.setup = setup
        self._ray: ModuleType | None = None
        self._owns_connection = False
        self._actors: list[Any] = []
        self._load: list[int] = []
        self.nodes: list[dict] = []
        self.workers: list[dict] = []  # {"host", "pid"} of each started actor
        self.problems_run = 0  # outcomes that came back from the workers

    # -- connection ------------------------------------------------------------------------
    def connect(self) -> None:
        """Join the cluster and check it can share this run's database and model endpoints."""
        if self._ray is not None:
            return
        ray = require_ray()
        address = self.address or os.environ.get("RAY_ADDRESS")
        if not address:
            raise ExecutorUnavailable(
                "--executor ray needs a running Ray cluster: start one with `ray start --head` "
                "(on this or another machine) and pass --ray-address HOST:PORT (printed by "
                "ray start), or set RAY_ADDRESS")
        if not ray.is_initialized():
            try:
                _init_masked(ray, address)
            except Exception as exc:  # ConnectionError, ValueError, ...: say where we looked
                raise ExecutorUnavailable(
                    f"cannot connect to the Ray cluster at {address}: {exc}. Is it running "
                    f"(`ray status --address {address}`)?") from exc
            self._owns_connection = True
        self._ray = ray
        self.nodes = [n for n in ray.nodes() if n.get("Alive")]
        remote = sorted({n["NodeManagerAddress"] for n in self.nodes
                         if not is_local_address(n["NodeManagerAddress"])})
        if remote:
            try:
                self._check_shareable(remote)
            except ExecutorUnavailable:
                self.close()
                raise

    def _check_shareable(self, remote: list[str]) -> None:
        where = ", ".join(remote)
        if self.setup.database_url.startswith("sqlite"):
            raise ExecutorUnavailable(
                f"the Ray cluster has nodes on other machines ({where}); they cannot share the "
                f"SQLite database {_hide_password(self.setup.database_url)}. Pass --db "
                f"postgresql+psycopg://USER@HOST/DB (reachable from every node), or use a "
                f"cluster on this machine only")
        if self.setup.loopback_endpoints:
            raise ExecutorUnavailable(
                f"the Ray cluster has nodes on other machines ({where}), but the model endpoint "
                f"{', '.join(self.setup.loopback_endpoints)} is reachable from this machine only "
                f"(the embedded model or a 127.0.0.1 server). Set OPENAI_BASE_URL (or "
                f"llm.base_url) to an endpoint every node can reach")

    def _cluster_cpus(self) -> int:
        """One actor per cluster CPU (each reserves one). Not the CPUs free right now: those
        change as other jobs (or a previous run's actors) let go, and a pool that depends on a
        moment's timing would not be reproducible; a busy cluster makes the start wait."""
        return max(1, int(self._connected().cluster_resources().get("CPU", 1)))

    def _connected(self) -> ModuleType:
        if self._ray is None:
            raise RuntimeError("RayExecutor used before connect()")
        return self._ray

    async def _ensure_pool(self, concurrency: int) -> None:
        if self._actors:
            return
        self.connect()
        ray = self._connected()
        n = max(1, min(concurrency, self.setup.workers or self._cluster_cpus()))
        per_actor = -(-concurrency // n)
        actor_cls = ray.remote(SolveWorker).options(
            num_cpus=1, max_concurrency=max(1, per_actor), scheduling_strategy="SPREAD",
            max_restarts=0)
        actors = [actor_cls.remote(self.setup) for _ in range(n)]
        self._actors, self._load = actors, [0] * n
        try:
            # asyncio.timeout, not wait_for: wait_for can lose a Ctrl-C on 3.11
            async with asyncio.timeout(START_TIMEOUT_S):
                self.workers = list(await asyncio.gather(*(a.start.remote() for a in actors)))
        except TimeoutError as exc:
            self.close()
            raise ExecutorUnavailable(
                f"{n} Ray worker(s) did not start within {START_TIMEOUT_S:.0f} s: is the cluster "
                f"busy (`ray status`)? Each worker needs 1 CPU") from exc
        except Exception as exc:
            self.close()
            raise ExecutorUnavailable(f"a Ray worker could not start its sandbox, database or "
                                      f"model client: {_cause(exc)}") from exc

    # -- running ---------------------------------------------------------------------------
    async def run(self, items: Sequence[tuple[int, Problem]], domain: DomainProtocol,
                  spec: AgentSpec, ctx: SolveContext, policy: LoopPolicy, *, concurrency: int,
                  on_outcome: OutcomeSink) -> list[ProblemOutcome]:
        if ctx.memory is not None:  # learns in order, on this host (see above)
            return await LocalExecutor().run(items, domain, spec, ctx, policy,
                                             concurrency=concurrency, on_outcome=on_outcome)
        if not items:
            return []
        await self._ensure_pool(concurrency)
        queue = list(items)[::-1]  # pop() from the end: dataset order
        finished: list[ProblemOutcome] = []
        in_flight: set = set()
        failure: list[BaseException] = []
        domain_name = domain.name
        host_budget = getattr(ctx.llm, "budget", None)

        async def budget_ok() -> bool:
            if host_budget is None:
                return True
            if hasattr(host_budget, "forget"):
                host_budget.forget(ctx.run_id)
            try:
                await host_budget.check(ctx.run_id)
            except BudgetExceeded as exc:
                failure.append(exc)
                return False
            return True

        async def lane() -> None:
            while queue and not failure:
                if not await budget_ok():
                    return
                position, problem = queue.pop()
                i = min(range(len(self._actors)), key=self._load.__getitem__)
                self._load[i] += 1
                ref = self._actors[i].solve.remote(problem, domain_name, spec, policy,
                                                   ctx.run_id, ctx.limits, ctx.verifiers)
                in_flight.add(ref)
                try:
                    reply = await ref
                except Exception as exc:
                    failure.append(RayWorkerError(
                        f"the Ray worker failed on problem {problem.id}: {_cause(exc)}"))
                    return
                finally:
                    in_flight.discard(ref)
                    self._load[i] -= 1
                if reply[0] == "budget":
                    failure.append(BudgetExceeded(*reply[1:]))
                    return
                outcome = reply[1]
                finished.append(outcome)
                self.problems_run += 1
                result = on_outcome(position, outcome)
                if inspect.isawaitable(result):
                    await result

        lanes = [asyncio.create_task(lane()) for _ in range(max(1, min(concurrency, len(items))))]
        try:
            # A failure stops new submissions; problems in flight finish and are recorded.
            await asyncio.gather(*lanes)
        except BaseException:  # cancelled (Ctrl-C) or on_outcome failed: stop everything now
            ray = self._connected()
            for ref in list(in_flight):
                ray.cancel(ref)
            for t in lanes:
                t.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
            raise
        if failure:
            raise failure[0]
        return finished

    def report(self) -> str | None:
        """One line for the user: how much ran where (None: no worker started)."""
        if not self.workers:
            return None
        hosts = sorted({w["host"] for w in self.workers})
        return (f"ray: {self.problems_run} problem(s) ran on {len(self.workers)} worker(s)"
                + (f" on {', '.join(hosts)}" if hosts else ""))

    def close(self) -> None:
        ray, actors = self._ray, self._actors
        self._actors, self._load = [], []
        if ray is None:
            return
        if actors:
            try:  # let each worker stop its sandbox and dispose of its engine
                ray.get([a.close.remote() for a in actors], timeout=30)
            except Exception:
                pass
            for a in actors:
                try:
                    ray.kill(a)
                except Exception:
                    pass
        if self._owns_connection and ray.is_initialized():
            ray.shutdown()
        self._ray, self._owns_connection = None, False


_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def mask_passwords(text: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def _init_masked(ray: ModuleType, address: str) -> None:
    """`ray.init`, with the driver's command line (which Ray stores as the job's entrypoint and
    its dashboard shows) stripped of database passwords given as `--db URL`."""
    utils = getattr(getattr(ray, "_private", None), "utils", None)
    original = getattr(utils, "get_entrypoint_name", None)
    if utils is not None and original is not None:
        utils.get_entrypoint_name = lambda: mask_passwords(original())
    try:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False,
                 configure_logging=True)
    finally:
        if utils is not None and original is not None:
            utils.get_entrypoint_name = original


class RayWorkerError(RuntimeError):
    """A Ray worker crashed or raised outside a problem's own error handling."""


def _cause(exc: BaseException) -> str:
    """The worker-side error without Ray's wrapping (its first line is enough)."""
    cause = getattr(exc, "cause", None) or exc
    text = f"{type(cause).__name__}: {cause}"
    return text.strip().splitlines()[-1] if "Traceback" in text else text.strip()
