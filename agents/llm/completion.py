"""What a call returns (`Completion`) and what calls have cost (`Spend`)."""
from __future__ import annotations

from pydantic import BaseModel, Field


class Completion(BaseModel):
    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    cached: bool = False
    model: str = ""
    finish_reason: str | None = None
    role: str = ""
    attempt: int = 0


class Spend(BaseModel):
    """Calls and what they cost: an attempt's, a problem's, a role's or a run's. Cached calls
    are counted but free (no tokens sent, no cost): budgets compare against this. `calls`
    counts the calls asked for; `requests` the HTTP requests they sent (retries included,
    none for a cached call), where it is known (the ledger's; 0 elsewhere)."""

    calls: int = 0
    requests: int = 0
    cached_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    def add(self, other: "Spend") -> None:
        for name in ("calls", "requests", "cached_calls", "tokens_in", "tokens_out", "cost_usd"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class LedgerSpend(Spend):
    """A run's spend from the call ledger: also its failed calls, and the same by role."""

    errors: int = 0
    by_role: dict[str, "LedgerSpend"] = Field(default_factory=dict)
