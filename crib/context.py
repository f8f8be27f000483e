"""Wiring: from the effective config to the live parts a command works with.

`open_context(cfg)` starts, in this order: the sandbox (its fork-server is spawned with an
empty environment; a command that runs agents starts it first, with `start_sandbox`), a check
of the configured model endpoints (crib/endpoints.py: a down one, or a role with no model, is
a ConfigError before any work), the database (migrated), the embedded llama.cpp server when
some role has no endpoint, and the LLM client. Leaving the context stops all of them, also on
Ctrl-C.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crib.config import CribConfig, mask_url

if TYPE_CHECKING:  # the layers load when a command opens a context, not at CLI start
    from sqlalchemy import Engine

    from crib.agents.domains.base import DomainProtocol
    from crib.agents.llm import LLM, ModelSettings
    from crib.agents.llm.local_server import LocalServer
    from crib.agents.memory_hook import MemoryHook
    from crib.memory.store import MemoryStore
    from crib.sandbox import Limits, Sandbox


@dataclass
class Context:
    cfg: CribConfig
    engine: Engine
    llm: LLM
    sandbox: Sandbox | None  # None: opened with_sandbox=False (no agent runs)
    roles: dict[str, ModelSettings]
    local_server: LocalServer | None = None
    _memory_store: MemoryStore | None = field(default=None, repr=False)

    async def run_snippet(self, code: str, timeout_s: float) -> dict[str, Any]:
        """The sandbox's snippet tier in the shape domains and verifiers take."""
        from crib.sandbox import Limits

        if self.sandbox is None:
            raise RuntimeError("this context was opened without a sandbox (with_sandbox=False)")
        r = await self.sandbox.run(code, tier="snippet", limits=Limits(timeout_s=timeout_s))
        return {"ok": r.ok, "stdout": r.stdout, "stderr": r.stderr, "value": r.value,
                "error": r.error}

    def domain(self, name: str) -> DomainProtocol:
        from crib.agents.domains import get_domain

        return get_domain(name, run_snippet=self.run_snippet)

    def model_manifest(self) -> dict[str, Any]:
        """Model names and endpoints per role, for the run manifest (never keys)."""
        return {role: {"model": s.model, "base_url": s.base_url and mask_url(s.base_url),
                       "temperature": s.temperature, "max_tokens": s.max_tokens}
                for role, s in self.roles.items()}

    def agent_limits(self) -> Limits:
        """The sandbox limits of one agent run, from config (sandbox.timeout_s, memory_mb)."""
        from crib.agents.loop import agent_limits

        return agent_limits(timeout_s=self.cfg.sandbox.timeout_s).model_copy(
            update={"memory_mb": self.cfg.sandbox.memory_mb})

    @property
    def memory_store(self) -> MemoryStore:
        if self._memory_store is None:
            from crib.memory.store import MemoryStore

            self._memory_store = MemoryStore(self.engine,
                                             chroma_dir=str(self.cfg.data_dir / "chroma"),
                                             chroma_url=self.cfg.memory.chroma_url)
        return self._memory_store

    def memory_hook(self, mode: str, scope: str, run_id: str) -> MemoryHook:
        """The seam the verifier loop calls before and after each problem
        (agents/memory_hook.py)."""
        from crib.agents.memory_hook import MemoryHook

        return MemoryHook(self.memory_store, mode=mode, scope=scope, run_id=run_id, llm=self.llm,
                          gating=self.cfg.memory.gating, token_budget=self.cfg.memory.render_tokens)


def start_sandbox(cfg: CribConfig, agent_runs: int = 0) -> Sandbox:
    """The sandbox, started now: a command that knows it will run agents calls this before it
    imports and opens the rest, so the fork-server and the zygotes for `agent_runs` agent runs
    at once start in the background meanwhile (Sandbox.prewarm). Raises SandboxUnavailable."""
    from crib.sandbox import Sandbox
    from crib.sandbox.sandbox import DEFAULT_SLOTS, MAX_SLOTS

    # A run holds its slot while it waits for the model: as many slots as runs asked for.
    sandbox = Sandbox(unsafe_no_sandbox=cfg.sandbox.unsafe_no_sandbox,
                      slots=min(max(DEFAULT_SLOTS, agent_runs), MAX_SLOTS))
    sandbox.prewarm(agent_runs)
    return sandbox


@asynccontextmanager
async def open_context(cfg: CribConfig, *, run_id: str | None = None, with_sandbox: bool = True,
                       sandbox: Sandbox | None = None) -> AsyncIterator[Context]:
    """`sandbox`: one from `start_sandbox`, which the context then owns (and closes).
    Raises ConfigError when an endpoint is down or refuses the key, or a role has no model."""
    from crib.agents.llm import LLM, resolve_roles
    from crib.agents.llm.settings import ROLES
    from crib.agents.transcripts import TranscriptStore
    from crib.endpoints import check_endpoints
    from crib.storage import open_database

    if sandbox is None and with_sandbox:
        sandbox = start_sandbox(cfg)
    engine = server = llm = transcripts = None
    try:
        configured = await check_endpoints({role: cfg.role(role) for role in ROLES})
        engine = open_database(cfg.database_url)
        local_url = alias = None
        if cfg.needs_local_model:
            from crib.agents.llm import local_model
            from crib.agents.llm.local_server import LocalServer

            path = local_model.ensure(cfg.local_model, cfg.data_dir / "models")
            (cfg.data_dir / "logs").mkdir(parents=True, exist_ok=True)
            server = LocalServer(path, ctx=cfg.local_ctx, alias=cfg.local_model,
                                 threads=cfg.local_threads, parallel=cfg.local_parallel,
                                 log_path=cfg.data_dir / "logs" / "llama-server.log")
            await server.astart()
            local_url, alias = server.base_url, cfg.local_model
        roles = resolve_roles(configured, local_url, alias)  # the LLM layer's
        if cfg.transcripts:  # what each call, sandbox run and verdict said
            transcripts = TranscriptStore(engine)
        llm = LLM(engine=engine, roles=roles, cache=cfg.cache, run_id=run_id,
                  budget_tokens=cfg.budget_tokens, budget_usd=cfg.budget_usd,
                  recorder=transcripts)
        if transcripts is not None:
            transcripts.share_writer(llm.writer)
        yield Context(cfg=cfg, engine=engine, llm=llm, sandbox=sandbox, roles=roles,
                      local_server=server)
    finally:
        try:
            if sandbox is not None:
                sandbox.close()
            if server is not None:
                server.stop()
            if transcripts is not None:
                transcripts.flush()
            if engine is not None:
                engine.dispose()
        finally:
            if llm is not None:  # last: an await here may be cancelled (Ctrl-C)
                await llm.aclose()
