"""The hot path of a chat completion: one JSON POST to `{base_url}/chat/completions` over a
pooled aiohttp session, the reply read straight from its JSON.

Why not ChatOpenAI (or the `openai` SDK) here: batch solving is CPU-bound on the host, and a
batch at 100 ms latency and concurrency 32 leaves about 3 ms of CPU per call for everything
(sandbox, SQL, the call). Measured per call at concurrency 32 on the 2-core dev machine:
ChatOpenAI ≈6.6 ms, the `openai` SDK ≈6 ms (its request transform, pydantic response models
and the httpx/httpcore pool, which checks every pooled connection on each request), the SDK's
raw `post` on aiohttp ≈2.5 ms, this module ≈0.5 ms. The request is the one ChatOpenAI sends
(same fields; `max_completion_tokens`; `response_format` as given), failures are classified as
before (`agents/llm/retry.py`: status, Retry-After, connection, malformed), and streaming
(`crib chat`) still goes through ChatOpenAI, where per-call CPU does not matter.
"""
from __future__ import annotations

import json
import os
import weakref
from typing import Any

import aiohttp
from yarl import URL

from crib.agents.llm.retry import HTTPStatusError

USER_AGENT = "crib (aiohttp)"


def _close_quietly(sessions: list) -> None:
    """When an event loop goes away with sessions still open (a caller that never awaited
    `aclose`), mark their pools closed so aiohttp does not log "Unclosed client session"."""
    for session in sessions:
        try:
            session.connector._close()  # noqa: SLF001 - sync close; the loop may be gone
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass
    sessions.clear()


class ChatEndpoint:
    """One endpoint's connection pool on one event loop."""

    def __init__(self, base_url: str, api_key: str, *, connections: int,
                 timeout_s: float | None, loop: Any, registry: list) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
                   "Accept": "application/json", "User-Agent": USER_AGENT}
        for env, header in (("OPENAI_ORG_ID", "OpenAI-Organization"),
                            ("OPENAI_PROJECT_ID", "OpenAI-Project")):
            if os.environ.get(env) and api_key and not api_key.startswith("sk-no-key"):
                headers[header] = os.environ[env]
        self.proxy, self.proxy_auth = _env_proxy(self.url)
        # No cookie jar (an API endpoint sets none worth keeping; the jar is filtered on every
        # request and updated on every reply) and the URL parsed once, not per request.
        self._url = URL(self.url)
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, limit_per_host=0),
            headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s),
            cookie_jar=aiohttp.DummyCookieJar())
        if not registry:  # first session on this loop: close them all when the loop dies
            weakref.finalize(loop, _close_quietly, registry)
        registry.append(self.session)

    async def complete(self, body: dict[str, Any]) -> tuple[str, int, int, str | None, str | None]:
        """(text, tokens in, tokens out, model, finish reason); raises HTTPStatusError on a
        non-2xx reply, ValueError/KeyError on a malformed one, aiohttp.ClientError on I/O."""
        async with self.session.post(self._url, data=json.dumps(body, ensure_ascii=False).encode(),
                                     proxy=self.proxy, proxy_auth=self.proxy_auth) as resp:
            raw = await resp.read()
            if resp.status >= 300:
                raise HTTPStatusError(resp.status, _error_message(raw, resp.reason), resp.headers)
        reply = json.loads(raw)
        if not isinstance(reply, dict) or not reply.get("choices"):
            raise ValueError(f"no choices in the reply: {raw[:200]!r}")
        choice = reply["choices"][0]
        content = (choice.get("message") or {}).get("content")
        text = content if isinstance(content, str) else ("" if content is None else str(content))
        usage = reply.get("usage") or {}
        return (text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0),
                reply.get("model"), choice.get("finish_reason"))

    async def aclose(self) -> None:
        await self.session.close()


def _env_proxy(url: str) -> tuple[Any, Any]:
    """The proxy the environment names for `url` (HTTPS_PROXY, NO_PROXY, ...), as httpx
    honoured it. Looked up once: aiohttp's `trust_env` would redo it (and read ~/.netrc) in
    a worker thread on every request."""
    try:
        from aiohttp.helpers import get_env_proxy_for_url
        from yarl import URL

        return get_env_proxy_for_url(URL(url))
    except LookupError:
        return None, None  # no proxy for this URL


def _error_message(raw: bytes, reason: str | None) -> str:
    """The endpoint's own error text (OpenAI shape `{"error": {"message": ...}}`) if any."""
    try:
        data = json.loads(raw)
    except ValueError:
        return raw[:500].decode(errors="replace").strip() or (reason or "error")
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:500]
        if isinstance(err, str):
            return err[:500]
    return json.dumps(data)[:500]


def request_body(model: str, messages: list[dict], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The JSON ChatOpenAI would send for these call kwargs (see `LLM._call_kwargs`)."""
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": False}
    for key, value in kwargs.items():
        if key == "max_tokens":
            body["max_completion_tokens"] = value
        elif key == "extra_body":
            body.update(value)
        else:
            body[key] = value
    return body
