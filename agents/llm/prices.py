"""USD prices per million tokens (input, output) of known hosted models; local models cost 0.

Matched by the longest prefix of the model name, so dated snapshots ("gpt-4o-2024-08-06")
and provider prefixes ("openai/gpt-4o-mini") find their family. Override with `LLM(prices=...)`.
"""
from __future__ import annotations

from typing import Mapping

PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
}


def price_of(model: str, table: Mapping[str, tuple[float, float]] = PRICES_PER_MTOK
             ) -> tuple[float, float]:
    name = model.rsplit("/", 1)[-1].lower()
    best = ""
    for key in table:
        if (name == key or name.startswith(key + "-")) and len(key) > len(best):
            best = key
    return table[best] if best else (0.0, 0.0)


def cost_usd(model: str, tokens_in: int, tokens_out: int,
             table: Mapping[str, tuple[float, float]] = PRICES_PER_MTOK) -> float:
    per_in, per_out = price_of(model, table)
    return (tokens_in * per_in + tokens_out * per_out) / 1_000_000
