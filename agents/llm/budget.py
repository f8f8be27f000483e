"""Per-run budgets (tokens, USD): checked before every call that would reach an endpoint.

Spend is loaded from the ledger the first time a run is seen (so a resumed run counts what
it spent before) and then kept in memory. Cached replies are free. Calls already in flight
when the budget is reached still finish: a run can overshoot by at most its concurrency.
"""
from __future__ import annotations

import asyncio

from crib.agents.llm.errors import BudgetExceeded
from crib.agents.llm.ledger import Ledger


class Budget:
    def __init__(self, ledger: Ledger, tokens: int | None = None, usd: float | None = None) -> None:
        self.ledger = ledger
        self.tokens = tokens
        self.usd = usd
        self._spent: dict[str | None, list] = {}  # run -> [tokens, usd]

    async def spent(self, run: str | None) -> list:
        if run not in self._spent:
            spend = await asyncio.to_thread(self.ledger.spend, run)
            self._spent.setdefault(run, [spend.tokens, spend.cost_usd])
        return self._spent[run]

    async def check(self, run: str | None) -> None:
        if self.tokens is None and self.usd is None:
            return
        tokens, usd = await self.spent(run)
        where = f"run {run}" if run else "this session"
        if self.tokens is not None and tokens >= self.tokens:
            raise BudgetExceeded(
                f"token budget reached for {where}: {tokens:,} tokens spent of {self.tokens:,} "
                f"allowed; no more model calls are sent (raise --budget-tokens and resume the run)",
                "tokens", self.tokens, tokens)
        if self.usd is not None and usd >= self.usd:
            raise BudgetExceeded(
                f"USD budget reached for {where}: ${usd:.4f} spent of ${self.usd:.4f} allowed; "
                f"no more model calls are sent (raise --budget-usd and resume the run)",
                "usd", self.usd, usd)

    def forget(self, run: str | None) -> None:
        """Re-read the run's spend from the ledger at the next check: other processes (Ray
        workers) spend on the same run."""
        self._spent.pop(run, None)

    async def add(self, run: str | None, tokens: int, usd: float) -> None:
        spent = await self.spent(run)
        spent[0] += tokens
        spent[1] += usd
