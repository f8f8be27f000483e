"""The seam for keeping what each model call said: `LLM(recorder=...)`.

The client calls `recorder.record(CallRecord)` once for every call it puts in the ledger
(completion, stream, structured output; cached or not; success or error), on the event loop,
before the ledger row is written, so a caller that is cancelled meanwhile still gets its record.
A structured call that falls back to another mode after the endpoint refused one is one call
per mode tried, as in the ledger. The record holds no API key and no header. A recorder must be
quick (it runs on the loop: queue the work if it is slow); if it raises, the call goes on and
the error is logged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

CallKind = Literal["complete", "structured", "stream"]


@dataclass(frozen=True)
class CallRecord:
    kind: CallKind
    run_id: str | None
    attempt_id: str | None
    role: str
    model: str
    endpoint: str  # the endpoint's stable id (the cache's): a URL, "embedded:<model>", a provider
    messages: list[dict]  # as sent (structured output's schema instruction included)
    params: dict[str, Any]  # sampling: temperature, max_tokens, stop, seed, response_format
    text: str  # the reply ("" when there was none)
    tokens_in: int
    tokens_out: int
    latency_ms: float
    cached: bool
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # finish_reason, tries (as the ledger)


class CallRecorder(Protocol):
    def record(self, call: CallRecord) -> None: ...
