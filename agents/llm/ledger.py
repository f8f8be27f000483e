"""The call ledger: one `llm_calls` row per call (cached or not, failed or not) and the sums.

A row's `tries` is the requests the call sent: 1, more when it was retried, 0 when cached.
`calls` counts rows (what the agents asked for), `requests` sums `tries` (what the endpoints
were sent, the figure a provider bills and rate-limits).

Spend counts cached calls as free (no tokens, no cost): that is what budgets compare against.

A run this process drives can be *tracked* (`track(run_id)`, before its first call): its
spend is read from SQL once and then kept as running totals, to which every row this ledger
commits is added, so `spend()` is free for progress displays instead of an aggregate query per
update. Rows written by other processes (Ray workers) after `track` are not seen: do not track
a run whose calls are made elsewhere; `spend(run, fresh=True)` always asks SQL.
"""
from __future__ import annotations

import threading

from sqlalchemy import Connection, Engine, case, func, insert, select

from crib.agents.llm.completion import LedgerSpend
from crib.agents.records import CallRow, utcnow

_INSERT = insert(CallRow)  # one statement object: compiled once, cached


class Ledger:
    def __init__(self, engine: Engine | None) -> None:
        self.engine = engine
        self._memory: list[dict] = []  # without an engine the ledger lives in memory
        self._tracked: dict[str | None, dict[str, list]] = {}  # run -> role -> sums (see _add)
        self._lock = threading.Lock()  # rows are committed from worker threads

    def record(self, conn: Connection | None = None, **row) -> dict:
        """Add one row; inside `conn`'s transaction when given (the cache write shares it):
        then the caller calls `committed(row)` once that transaction has committed."""
        row.setdefault("error", None)
        row.setdefault("created_at", utcnow())
        if self.engine is None:
            self._memory.append(row)
            self.committed(row)
        elif conn is not None:
            conn.execute(_INSERT, row)
        else:
            with self.engine.begin() as own:
                own.execute(_INSERT, row)
            self.committed(row)
        return row

    def committed(self, row: dict) -> None:
        """Add a committed row to its run's running totals (when the run is tracked)."""
        if row.get("run_id") in self._tracked:
            with self._lock:
                sums = self._tracked.get(row.get("run_id"))
                if sums is not None:
                    _add(sums, row)

    def track(self, run_id: str | None) -> None:
        """Keep `run_id`'s spend as running totals from now on (call before its first call
        from this process; a resumed run starts from what SQL holds)."""
        if run_id in self._tracked:
            return
        sums = {r[0]: [r[0], *(v or 0 for v in r[1:])] for r in self._rows(run_id)}
        with self._lock:
            self._tracked.setdefault(run_id, sums)

    def spend(self, run_id: str | None, fresh: bool = False) -> LedgerSpend:
        """What the run spent, by role: from the running totals when tracked (unless
        `fresh`), else one aggregate query."""
        tracked = None if fresh else self._tracked.get(run_id)
        if tracked is not None:
            with self._lock:
                rows = [tuple(v) for v in tracked.values()]
        else:
            rows = self._rows(run_id)
        total = LedgerSpend()
        for role, calls, requests, cached, errors, t_in, t_out, usd in rows:
            part = LedgerSpend(calls=calls, requests=requests or 0, cached_calls=cached or 0,
                               errors=errors or 0, tokens_in=t_in or 0, tokens_out=t_out or 0,
                               cost_usd=usd or 0.0)
            total.by_role[role] = part
            total.add(part)
            total.errors += part.errors
        return total

    def _rows(self, run_id: str | None) -> list[tuple]:
        if self.engine is None:
            by_role: dict[str, list] = {}
            for r in self._memory:
                if r.get("run_id") == run_id:
                    _add(by_role, r)
            return [tuple(v) for v in by_role.values()]
        paid = CallRow.cached.is_(False)
        query = (
            select(
                CallRow.role,
                func.count(),
                func.sum(CallRow.tries),
                func.sum(case((CallRow.cached.is_(True), 1), else_=0)),
                func.sum(case((CallRow.error.is_not(None), 1), else_=0)),
                func.sum(case((paid, CallRow.tokens_in), else_=0)),
                func.sum(case((paid, CallRow.tokens_out), else_=0)),
                func.sum(case((paid, CallRow.cost_usd), else_=0.0)),
            )
            .where(CallRow.run_id == run_id if run_id is not None else CallRow.run_id.is_(None))
            .group_by(CallRow.role)
        )
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query)]


def _add(by_role: dict[str, list], r: dict) -> None:
    """Sum one ledger row into `by_role` ([role, calls, requests, cached, errors, tokens in,
    tokens out, usd] per role, the shape of the SQL aggregate)."""
    acc = by_role.setdefault(r["role"], [r["role"], 0, 0, 0, 0, 0, 0, 0.0])
    paid = not r["cached"]
    acc[1] += 1
    acc[2] += r.get("tries", 0 if r["cached"] else 1)
    acc[3] += int(r["cached"])
    acc[4] += int(r["error"] is not None)
    acc[5] += r["tokens_in"] if paid else 0
    acc[6] += r["tokens_out"] if paid else 0
    acc[7] += r["cost_usd"] if paid else 0.0
