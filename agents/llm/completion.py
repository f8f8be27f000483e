"""What a call returns (`Completion`) and what a run has spent (`Spend`)."""
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


class RoleSpend(BaseModel):
    calls: int = 0
    cached_calls: int = 0
    errors: int = 0
    tokens_in: int = 0  # tokens actually sent: cached calls count as free
    tokens_out: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


class Spend(RoleSpend):
    by_role: dict[str, RoleSpend] = Field(default_factory=dict)
