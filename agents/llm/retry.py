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
import time
import sys
from dataclasses import dataclass

RETRY_STATUSES = {408, 409, 429}


class HTTPStatusError(Exception):
    """A non-2xx reply on the direct HTTP path (`agents/llm/http_chat.py`)."""

    def __init__(self, status: int, message: str, headers=None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status_code = status
        self.message = message
        self.headers = headers


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


def _status(status: int, message: str, headers) -> Failure:
    retry = status >= 500 or status in RETRY_STATUSES
    return Failure(retry, status, parse_retry_after(headers), f"HTTP {status}: {message}")


def classify(exc: BaseException) -> Failure:
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return Failure(True, None, None, "timed out")
    if isinstance(exc, HTTPStatusError):
        return _status(exc.status_code, exc.message, exc.headers)
    aiohttp = sys.modules.get("aiohttp")  # the direct path's I/O errors (imported only if used)
    if aiohttp is not None and isinstance(exc, aiohttp.ClientError):
        return Failure(True, None, None, f"connection error: {type(exc).__name__}: {exc}")
    openai = sys.modules.get("openai")  # the streaming path (ChatOpenAI) raises openai's errors
    if openai is not None:
        failure = _classify_openai(openai, exc)
        if failure is not None:
            return failure
    if isinstance(exc, (json.JSONDecodeError, ValueError, KeyError, TypeError)):
        return Failure(True, None, None, f"malformed reply: {type(exc).__name__}: {exc}")
    return Failure(False, None, None, f"{type(exc).__name__}: {exc}")


def _classify_openai(openai, exc: BaseException) -> Failure | None:
    if isinstance(exc, openai.APITimeoutError):
        return Failure(True, None, None, "timed out")
    if isinstance(exc, openai.APIConnectionError):
        return Failure(True, None, None, f"connection error: {exc}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = getattr(exc, "message", str(exc))
        retry = status >= 500 or status in RETRY_STATUSES
        after = parse_retry_after(exc.response.headers) if exc.response is not None else None
        return Failure(retry, status, after, f"HTTP {status}: {message}")
    return None


@dataclass(frozen=True)
class Backoff:
    base_s: float = 0.5
    max_s: float = 30.0
    max_retry_after_s: float = 120.0  # never sleep longer than this on a server's say-so

    def delay(self, retry: int, failure: Failure) -> float:
        """Wait before retry number `retry` (0-based)."""
        expo = min(self.max_s, self.base_s * (2 ** retry)) * (0.5 + random.random())
        if failure.retry_after_s is not None:
            return max(min(failure.retry_after_s, self.max_retry_after_s), 0.0) + random.random() * self.base_s * 0.1
        return expo
