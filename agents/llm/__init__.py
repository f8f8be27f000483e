"""The LLM layer: one async client for every role (see docs/interfaces.md, "Language models").

Exports resolve lazily so that importing `agents.llm.settings` (crib's config does, on every
CLI start) never pulls in langchain or openai.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "LLM": "agents.llm.client",
    "derive_seed": "agents.llm.client",
    "Completion": "agents.llm.completion",
    "Spend": "agents.llm.completion",
    "RoleSpend": "agents.llm.completion",
    "LLMError": "agents.llm.errors",
    "BudgetExceeded": "agents.llm.errors",
    "StructuredOutputError": "agents.llm.errors",
    "EndpointError": "agents.llm.errors",
    "Backoff": "agents.llm.retry",
    "ModelSettings": "agents.llm.settings",
    "resolve_roles": "agents.llm.wiring",
    "build_llm": "agents.llm.wiring",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from agents.llm.client import LLM, derive_seed
    from agents.llm.completion import Completion, RoleSpend, Spend
    from agents.llm.errors import BudgetExceeded, EndpointError, LLMError, StructuredOutputError
    from agents.llm.retry import Backoff
    from agents.llm.settings import ModelSettings
    from agents.llm.wiring import build_llm, resolve_roles


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agents.llm' has no attribute {name!r}")
