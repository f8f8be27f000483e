"""Which failures deserve another try, and how long to wait before it.

Retried: timeouts, connection errors, 5xx, 408/409/429, and malformed replies (a proxy hiccup
more often than a model fault). Not retried: other 4xx (the request itself is wrong).
The wait is exponential with jitter; a server's Retry-After (seconds or an HTTP date, or
retry-after-ms) takes precedence when it asks for longer.
"""
from __future__ import annotations

import asyncio
import email.utils
import json
import random
import sys
import time
from dataclasses import dataclass

RETRY_STATUSES = {408, 409, 429}


@dataclass(frozen=True)
class Failure:
    retryable: bool
    status: int | None
    retry_after_s: float | None
    description: str


def parse_retry_after(headers) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (delta-seconds or HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def classify(exc: BaseException) -> Failure:
    """What a chat model's call raised: the `openai` SDK's errors (ChatOpenAI), or any
    provider's that carry an HTTP status (`status_code`) and its response's headers."""
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return Failure(True, None, None, "timed out")
    openai = sys.modules.get("openai")
    if openai is not None:
        if isinstance(exc, openai.APITimeoutError):
            return Failure(True, None, None, "timed out")
        if isinstance(exc, openai.APIConnectionError):
            return Failure(True, None, None, f"connection error: {exc}")
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        retry = status >= 500 or status in RETRY_STATUSES
        return Failure(retry, status, parse_retry_after(headers),
                       f"HTTP {status}: {_message(exc)}")
    if isinstance(exc, (json.JSONDecodeError, ValueError, KeyError, TypeError)):
        return Failure(True, None, None, f"malformed reply: {type(exc).__name__}: {exc}")
    return Failure(False, None, None, f"{type(exc).__name__}: {exc}")


def _message(exc: BaseException) -> str:
    """The endpoint's own error text (OpenAI shape `{"error": {"message": ...}}`) if any."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:500]
    return str(getattr(exc, "message", None) or exc)[:500]


@dataclass(frozen=True)
class Backoff:
    base_s: float = 0.5
    max_s: float = 30.0
    max_retry_after_s: float = 120.0  # never sleep longer than this on a server's say-so

    def delay(self, retry: int, failure: Failure) -> float:
        """Wait before retry number `retry` (0-based)."""
        expo = min(self.max_s, self.base_s * (2 ** retry)) * (0.5 + random.random())
        if failure.retry_after_s is not None:
            wait = max(min(failure.retry_after_s, self.max_retry_after_s), 0.0)
            return wait + random.random() * self.base_s * 0.1
        return expo
