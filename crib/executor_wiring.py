"""The executor a run command fans out through (`--executor local|ray`), built from the context.

For Ray, `worker_setup(ctx)` turns this process's resolved config into what each Ray worker
needs to build the same parts (`open_worker_context`, run on the worker): the config without
secrets, the resolved model roles (the embedded server's URL and stable cache name included),
and the API keys the roles name, carried separately in a masked `Secrets`.
"""
from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from crib.agents.executors import (EXECUTORS, Executor, ExecutorUnavailable, LocalExecutor,
                                   make_executor)

if TYPE_CHECKING:  # the Ray executor's module loads only for --executor ray
    from crib.agents.ray_executor import Secrets, WorkerSetup
    from crib.context import Context


def precheck(name: str, address: str | None) -> None:
    """Fail fast (before any model or sandbox starts) on what the flags alone can tell."""
    if name not in EXECUTORS:
        raise ExecutorUnavailable(f"--executor must be {' or '.join(EXECUTORS)}, not {name!r}")
    if name == "local":
        if address:
            raise ExecutorUnavailable("--ray-address goes with --executor ray")
        return
    from crib.agents.ray_executor import require_ray

    require_ray()
    if not (address or os.environ.get("RAY_ADDRESS")):
        raise ExecutorUnavailable(
            "--executor ray needs a running Ray cluster: start one with `ray start --head` and "
            "pass --ray-address HOST:PORT (printed by ray start), or set RAY_ADDRESS")


def _loopback(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def worker_setup(ctx: Context) -> WorkerSetup:
    """What every Ray worker builds its sandbox, engine and LLM client from."""
    from crib.agents.llm.local_server import embedded
    from crib.agents.ray_executor import Secrets, WorkerSetup

    roles, endpoint_ids, secrets = {}, {}, {}
    for name, settings in ctx.roles.items():
        server = embedded(settings.base_url or "")
        if server is not None:  # same cache entries as here; no hosted key sent to it
            endpoint_ids[settings.base_url] = server.endpoint_id
            settings = settings.model_copy(update={"api_key_env": None,
                                                   "concurrency": server.parallel + 1})
        elif settings.api_key_env and os.environ.get(settings.api_key_env):
            secrets[settings.api_key_env] = os.environ[settings.api_key_env]
        roles[name] = settings.model_dump(mode="json")
    payload = {"config": ctx.cfg.model_dump(mode="json"), "roles": roles,
               "endpoint_ids": endpoint_ids}
    loopback = sorted({s["base_url"] for s in roles.values() if _loopback(s["base_url"] or "")})
    return WorkerSetup(open_context=open_worker_context, payload=payload, secrets=Secrets(secrets),
                       database_url=ctx.cfg.database_url, loopback_endpoints=loopback)


@asynccontextmanager
async def open_worker_context(payload: dict, secrets: Secrets) -> AsyncIterator[Context]:
    """On a Ray worker: the sandbox first (before any key is in this process's environment),
    then the keys, the database engine and the LLM client. Yields a crib `Context`."""
    from crib.agents.llm import LLM
    from crib.agents.llm.settings import ModelSettings
    from crib.config import CribConfig
    from crib.context import Context
    from crib.storage import make_engine
    from crib.sandbox import Sandbox

    cfg = CribConfig(**payload["config"])
    sandbox = Sandbox(unsafe_no_sandbox=cfg.sandbox.unsafe_no_sandbox)
    engine = llm = transcripts = None
    try:
        secrets.export()
        engine = make_engine(cfg.database_url)  # the driver has migrated it already
        roles = {r: ModelSettings(**s) for r, s in payload["roles"].items()}
        if cfg.transcripts:  # after the keys are in the environment: they are then redacted
            from crib.agents.transcripts import TranscriptStore

            transcripts = TranscriptStore(engine)
        llm = LLM(engine=engine, roles=roles, cache=cfg.cache, budget_tokens=cfg.budget_tokens,
                  budget_usd=cfg.budget_usd, endpoint_ids=payload["endpoint_ids"],
                  recorder=transcripts)
        if transcripts is not None:
            transcripts.share_writer(llm.writer)
        yield Context(cfg=cfg, engine=engine, llm=llm, sandbox=sandbox, roles=roles)
    finally:
        try:
            sandbox.close()
            if transcripts is not None:
                transcripts.flush()
            if engine is not None:
                engine.dispose()
        finally:
            if llm is not None and hasattr(llm, "aclose"):  # its HTTP connections
                await llm.aclose()


@contextmanager
def open_executor(ctx: Context, name: str = "local",
                  address: str | None = None) -> Iterator[Executor]:
    """The executor, connected (Ray: joined and checked); closed (workers stopped) on exit,
    with the executor's report on stderr (Ray: how many problems ran on how many workers)."""
    executor = (LocalExecutor() if name == "local"
                else make_executor(name, address, worker_setup(ctx)))
    try:
        executor.connect()
        yield executor
    finally:
        executor.close()
        line = executor.report()
        if line:
            from crib.cliutil import err_console

            err_console().print(line, highlight=False)
