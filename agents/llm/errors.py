"""Errors of the LLM layer. Every one carries a message that names what failed and where."""
from __future__ import annotations


class LLMError(Exception):
    """Base class: anything that went wrong getting a completion."""


class EndpointError(LLMError):
    """The endpoint failed (after the retries it deserved) or refused the request."""

    def __init__(self, message: str, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class BudgetExceeded(LLMError):
    """The run has spent its token or USD budget; nothing more is sent. The run can resume."""

    def __init__(self, message: str, budget: str, limit: float, spent: float) -> None:
        super().__init__(message)
        self.budget = budget  # "tokens" or "usd"
        self.limit = limit
        self.spent = spent


class StructuredOutputError(LLMError):
    """The reply could not be parsed into the requested model; `raw` holds the reply text."""

    def __init__(self, message: str, raw: str) -> None:
        super().__init__(message)
        self.raw = raw
