"""The LLM layer: one async client for every role (see docs/interfaces.md, "Language models").

Exports resolve lazily so that importing `agents.llm.settings` (crib's config does, on every
CLI start) never pulls in langchain or openai.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "LLM": "crib.agents.llm.client",
    "derive_seed": "crib.agents.llm.client",
    "Completion": "crib.agents.llm.completion",
    "Spend": "crib.agents.llm.completion",
    "LedgerSpend": "crib.agents.llm.completion",
    "LLMError": "crib.agents.llm.errors",
    "BudgetExceeded": "crib.agents.llm.errors",
    "StructuredOutputError": "crib.agents.llm.errors",
    "EndpointError": "crib.agents.llm.errors",
    "Backoff": "crib.agents.llm.retry",
    "CallRecord": "crib.agents.llm.recorder",
    "CallRecorder": "crib.agents.llm.recorder",
    "ModelSettings": "crib.agents.llm.settings",
    "resolve_roles": "crib.agents.llm.wiring",
    "build_llm": "crib.agents.llm.wiring",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # noqa: F401 below: re-exported for type checkers, lazily at run time
    from crib.agents.llm.client import LLM, derive_seed  # noqa: F401
    from crib.agents.llm.completion import Completion, LedgerSpend, Spend  # noqa: F401
    from crib.agents.llm.errors import (BudgetExceeded, EndpointError, LLMError,  # noqa: F401
                                        StructuredOutputError)
    from crib.agents.llm.recorder import CallRecord, CallRecorder  # noqa: F401
    from crib.agents.llm.retry import Backoff  # noqa: F401
    from crib.agents.llm.settings import ModelSettings  # noqa: F401
    from crib.agents.llm.wiring import build_llm, resolve_roles  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'crib.agents.llm' has no attribute {name!r}")
