"""Building an `LLM` from per-role settings, with the embedded server filling the gaps.

Crib's wiring does, in order:
    roles = {r: config.role(r) for r in ROLES}
    if any(s.base_url is None for s in roles.values()):      # config.needs_local_model
        path = local_model.ensure(config.local_model, config.data_dir / "models")
        server = LocalServer(path, ctx=config.local_ctx)     # start from the main thread
        server.start()   (or `async with server:`)
    llm = build_llm(engine, roles, local_base_url=server.base_url, local_model=config.local_model,
                    cache=..., run_id=..., budget_tokens=..., budget_usd=...)
"""
from __future__ import annotations

from typing import Mapping

from sqlalchemy import Engine

from crib.agents.llm.client import LLM
from crib.agents.llm.local_server import embedded
from crib.agents.llm.settings import ModelSettings


def resolve_roles(roles: Mapping[str, ModelSettings], local_base_url: str | None,
                  local_model: str | None) -> dict[str, ModelSettings]:
    """Roles with neither a base_url nor a provider go to the embedded server (model name: the
    local model's)."""
    resolved = {}
    for name, settings in roles.items():
        if settings.needs_embedded_server:
            if local_base_url is None:
                raise ValueError(f"role {name!r} has no base_url and no embedded server is running")
            settings = settings.model_copy(update={
                "base_url": local_base_url,
                "model": settings.model or local_model or "local",
                "api_key_env": None,  # never send a hosted key to the local server
            })
        elif settings.model is None:
            where = settings.base_url or f"provider {settings.provider}"
            raise ValueError(f"role {name!r} has {where} but no model name")
        resolved[name] = settings
    return resolved


def build_llm(engine: Engine | None, roles: Mapping[str, ModelSettings],
              local_base_url: str | None = None, local_model: str | None = None, **options) -> LLM:
    """`options`: cache, run_id, budget_tokens, budget_usd, prices, backoff (see `LLM`).

    The embedded server's URL changes every start (random port), so its cache entries are
    keyed by a stable name instead: a rerun replays them. A `LocalServer` running in this
    process is recognised by `LLM` itself (which also caps concurrency at its slots + 1);
    any other local endpoint given here is named "embedded:<model>"."""
    if local_base_url is not None and embedded(local_base_url) is None:
        options.setdefault("endpoint_ids", {local_base_url: f"embedded:{local_model or 'local'}"})
    return LLM(engine, resolve_roles(roles, local_base_url, local_model), **options)
