"""The SQL response cache.

The key is a sha256 over everything that decides a reply: model, endpoint, messages, every
sampling parameter, the response format and the attempt index. The attempt index makes
best-of-n at temperature > 0 get n different entries, and a rerun replay the same n.
Only successful replies are stored (errors never are).

Modes: `on` read and write; `off` neither; `read` replay only, never store;
`write` always ask the endpoint and store (refreshes entries).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError

from crib.agents.records import CacheRow, utcnow

# Statement objects built once: SQLAlchemy compiles and caches them on first use.
_SELECT = select(CacheRow.response).where(CacheRow.key == bindparam("key"))
_DELETE = delete(CacheRow).where(CacheRow.key == bindparam("key"))
_INSERT = insert(CacheRow)

CacheMode = Literal["on", "off", "read", "write"]
CACHE_MODES = ("on", "off", "read", "write")


def cache_key(model: str, base_url: str, messages: list[dict], params: dict[str, Any],
              attempt: int) -> str:
    """sha256 of a canonical JSON form (sorted keys, no whitespace, None values dropped)."""
    material = {
        "model": model,
        "base_url": base_url.rstrip("/"),
        "messages": messages,
        "params": {k: v for k, v in params.items() if v is not None},
        "attempt": attempt,
    }
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    def __init__(self, engine: Engine | None, mode: CacheMode = "on") -> None:
        if mode not in CACHE_MODES:
            raise ValueError(f"cache mode {mode!r} is not one of {', '.join(CACHE_MODES)}")
        self.engine = engine
        self.mode = mode

    @property
    def reads(self) -> bool:
        return self.engine is not None and self.mode in ("on", "read")

    @property
    def writes(self) -> bool:
        return self.engine is not None and self.mode in ("on", "write")

    def get(self, key: str) -> dict | None:
        if self.engine is None or not self.reads:
            return None
        with self.engine.connect() as conn:
            return conn.execute(_SELECT, {"key": key}).scalar()

    def put(self, key: str, model: str, response: dict, conn: Connection | None = None) -> None:
        """Store a reply; inside `conn`'s transaction when given (the ledger row shares it)."""
        if self.engine is None or not self.writes:
            return
        if conn is None:
            with self.engine.begin() as own:
                return self.put(key, model, response, own)
        if self.mode == "write":
            conn.execute(_DELETE, {"key": key})
        try:
            with conn.begin_nested():
                conn.execute(_INSERT, {"key": key, "model": model, "response": response,
                                       "created_at": utcnow()})
        except IntegrityError:
            pass  # a concurrent identical call stored it first: same content
