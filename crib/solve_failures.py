"""Why problems of a run failed: the most frequent error reasons for the summary, and the
early stop of a batch whose model calls all fail the same way (an endpoint that went down
or hangs mid-run), so it does not grind through every problem with no word said."""
from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from typing import Any, Awaitable, Callable

_NUMBERS = re.compile(r"\d+(\.\d+)?")
# Where a failed model call's own reason starts in a problem's error text (agents/attempts.py
# and the LLM client write these); the rest is the agent's traceback around it.
_MODEL_CALL = re.compile(r"(model call failed|EndpointError)")
REASON_CHARS = 240


def error_reason(error: str) -> str:
    """The informative part of a problem's error: the failed model call if there is one,
    else its first line; clipped."""
    found = list(_MODEL_CALL.finditer(error))
    if found:
        text = error[found[-1].start():]
    else:
        text = error.strip().splitlines()[0] if error.strip() else ""
    text = " ".join(text.split())
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def _key(reason: str) -> str:
    """Reasons that differ only in numbers (ports, attempt counts, seconds) are one reason."""
    return _NUMBERS.sub("N", reason)


def top_errors(outcomes: list[dict[str, Any]], k: int = 3) -> list[list[Any]]:
    """[[reason, count], ...] for the k most frequent reasons, most frequent first."""
    counts: Counter[str] = Counter()
    example: dict[str, str] = {}
    for outcome in outcomes:
        if outcome.get("error"):
            reason = error_reason(str(outcome["error"]))
            key = _key(reason)
            counts[key] += 1
            example.setdefault(key, reason)
    return [[example[key], n] for key, n in counts.most_common(k)]


PROBE_EVERY_S = 30.0  # at most one endpoint probe this often after failed problems
STALL_S = 60.0  # no problem finished for this long: probe the endpoints (a hung one?)


class FailureWatch:
    """Trips when the last `window` problems finished here all failed on a model call for
    the same reason: every call is failing, and the rest of the batch would only fail too.
    With `probe` (async, returns why the endpoints are unusable, or None), a problem that
    failed on a model call also has the endpoints checked: one that is down stops the batch
    at its first failed problem."""

    def __init__(self, window: int,
                 probe: Callable[[], Awaitable[str | None]] | None = None) -> None:
        self.window = max(1, window)
        self.streak = 0
        self.key: str | None = None
        self.reason: str | None = None
        self.probe = probe
        self.down: str | None = None  # what the probe found
        self._probed_at = float("-inf")
        self._probing = asyncio.Lock()
        self._progress_at = time.monotonic()

    @classmethod
    def for_concurrency(cls, concurrency: int, probe=None) -> "FailureWatch":
        # Two full waves of problems in flight, at least 6: problems that were already in
        # flight when the endpoint failed all fail together, so one wave proves little.
        return cls(max(6, 2 * concurrency), probe)

    async def check(self, outcome: dict[str, Any]) -> bool:
        """`see` the outcome and, when it failed on a model call, probe the endpoints (once
        per PROBE_EVERY_S). True once the watch has tripped."""
        self._progress_at = time.monotonic()
        if self.see(outcome) or self.probe is None or not self.streak:
            return self.tripped
        async with self._probing:  # problems failing together share one probe
            if self.down is None and time.monotonic() - self._probed_at >= PROBE_EVERY_S:
                self._probed_at = time.monotonic()
                self.down = await self.probe()
        return self.tripped

    async def watch_stalls(self, stall_s: float, on_trip: Callable[[], Any]) -> None:
        """Run beside the batch: whenever no problem has finished for `stall_s`, probe the
        endpoints; one that is down or hung trips the watch and calls `on_trip`. A hung
        endpoint is then found in a minute, not after every call's timeout and retries
        (300 s x 5 at the defaults); a slow one that still answers goes on."""
        if self.probe is None:
            return
        while not self.tripped:
            await asyncio.sleep(max(0.0, self._progress_at + stall_s - time.monotonic()))
            if time.monotonic() - self._progress_at < stall_s:
                continue  # a problem finished meanwhile
            async with self._probing:
                if self.down is None:
                    self.down = await self.probe()
            if self.down is not None:
                on_trip()
                return
            self._progress_at = time.monotonic()  # answers: look again after another stall

    def why(self) -> str:
        if self.down is not None:
            return f"the model endpoint stopped answering: {self.down}"
        return f"the last {self.streak} problems failed the same way: {self.reason}"

    def see(self, outcome: dict[str, Any]) -> bool:
        """Record one finished problem; True once the watch has tripped."""
        error = outcome.get("error")
        if not error or not _MODEL_CALL.search(str(error)):
            self.streak, self.key = 0, None
            return False
        reason = error_reason(str(error))
        if _key(reason) != self.key:
            self.streak, self.key = 0, _key(reason)
        self.streak += 1
        self.reason = reason
        return self.tripped

    @property
    def tripped(self) -> bool:
        return self.streak >= self.window or self.down is not None
