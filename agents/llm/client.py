"""`LLM`: the one async interface every part of Crib uses to talk to language models.

Against OpenAI-compatible endpoints. A completion goes out as one JSON POST on a pooled
aiohttp session (`agents/llm/http_chat.py`: the SDK stacks cost several ms of CPU per call,
which batch solving cannot afford); streaming goes through langchain-openai's `ChatOpenAI`
(its own retries off). Around each call: the SQL response cache, the budget check, a
per-endpoint concurrency limit, retries with backoff (ours honour Retry-After and are
recorded), a per-call timeout and one ledger row. See docs/interfaces.md ("Language models").
Call `await llm.aclose()` when done on a loop (crib's wiring does) to close its connections.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import weakref
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, TypeVar

from pydantic import BaseModel
from sqlalchemy import Engine

from crib.agents.llm import structured as so
from crib.agents.llm.budget import Budget
from crib.agents.llm.cache import CacheMode, ResponseCache, cache_key
from crib.agents.llm.completion import Completion, Spend
from crib.agents.llm.errors import EndpointError, LLMError, StructuredOutputError
from crib.agents.llm.http_chat import ChatEndpoint, request_body
from crib.agents.llm.ledger import Ledger
from crib.agents.llm.local_server import embedded
from crib.agents.llm.prices import PRICES_PER_MTOK, cost_usd
from crib.agents.llm.retry import Backoff, Failure, classify
from crib.agents.llm.sql_writer import SqlWriter
from crib.agents.llm.settings import ModelSettings

T = TypeVar("T", bound=BaseModel)
NO_KEY = "sk-no-key"  # local servers want some key; never a real one


@dataclass(frozen=True)
class _Role:
    name: str
    settings: ModelSettings
    model: str
    base_url: str


def derive_seed(messages: list[dict], attempt: int) -> int:
    """A stable seed per (prompt, attempt): replays reproduce on servers that honour seeds."""
    blob = json.dumps([messages, attempt], sort_keys=True, ensure_ascii=False).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF


class LLM:
    """One per process. `roles` maps a role name to fully resolved ModelSettings (a model and
    a base_url each: crib's wiring fills in the embedded server for roles without one)."""

    def __init__(
        self,
        engine: Engine | None,
        roles: Mapping[str, ModelSettings],
        *,
        cache: CacheMode = "on",
        run_id: str | None = None,
        budget_tokens: int | None = None,
        budget_usd: float | None = None,
        prices: Mapping[str, tuple[float, float]] | None = None,
        backoff: Backoff | None = None,
        endpoint_ids: Mapping[str, str] | None = None,
    ) -> None:
        self._roles: dict[str, _Role] = {}
        for name, settings in roles.items():
            if not settings.model or not settings.base_url:
                missing = "model" if not settings.model else "base_url"
                raise LLMError(f"role {name!r} has no {missing}: set it in config or let crib start "
                               f"the embedded model for roles without an endpoint")
            self._roles[name] = _Role(name, settings, settings.model, settings.base_url.rstrip("/"))
        self.cache = ResponseCache(engine, cache)
        self.ledger = Ledger(engine)
        self._writer = SqlWriter(engine) if engine is not None else None
        self.run_id = run_id
        self.budget = Budget(self.ledger, budget_tokens, budget_usd)
        self.prices = dict(prices) if prices is not None else PRICES_PER_MTOK
        self.backoff = backoff or Backoff()
        # The cache names an endpoint by its URL, unless given a stable id: the embedded
        # server gets a new port every start, but "embedded:<model>" replays across runs.
        self._endpoint_ids = {u.rstrip("/"): i for u, i in (endpoint_ids or {}).items()}
        self._concurrency: dict[str, int] = {}
        for role in self._roles.values():  # roles sharing an endpoint share its limit (the largest)
            self._concurrency[role.base_url] = max(self._concurrency.get(role.base_url, 1),
                                                   role.settings.concurrency or 8)
        # httpx clients and semaphores belong to one event loop: keep one set per loop.
        self._per_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._structured_mode: dict[str, int] = {}  # base_url -> index into so.MODES
        self._queued = 0  # calls waiting for a free place under their endpoint's limit

    # -- plumbing --------------------------------------------------------------------------
    @property
    def writer(self) -> SqlWriter | None:
        """The thread that commits this client's ledger rows (None without an engine). Others
        writing to the same engine may send their writes through it to share its group
        commits (`crib solve` does, for its result rows)."""
        return self._writer

    def queued_calls(self) -> int:
        """Calls waiting for their endpoint's concurrency limit. While some wait, the endpoint
        is the bottleneck: starting more work that calls it only adds waiters (the sandbox
        asks this before it starts another agent zygote)."""
        return self._queued

    def role(self, name: str) -> _Role:
        try:
            return self._roles[name]
        except KeyError:
            raise LLMError(f"unknown role {name!r}; configured roles: {', '.join(self._roles)}") from None

    def _endpoint_id(self, role: _Role) -> str:
        if role.base_url not in self._endpoint_ids:
            server = embedded(role.base_url)  # started in this process: name it by its model
            if server is None:
                return role.base_url
            self._endpoint_ids[role.base_url] = server.endpoint_id
        return self._endpoint_ids[role.base_url]

    def _limit(self, base_url: str) -> int:
        """The endpoint's concurrency; for the embedded server at most its slots + 1 (one
        waiting so it never idles): more would only queue there and eat into timeouts."""
        limit = self._concurrency.get(base_url, 8)
        server = embedded(base_url)
        return min(limit, server.parallel + 1) if server is not None else limit

    def _loop_state(self) -> dict:
        loop = asyncio.get_running_loop()
        state = self._per_loop.get(loop)
        if state is None:
            state = {"chat": {}, "sem": {}, "http": {}, "sessions": []}
            self._per_loop[loop] = state
        return state

    def _api_key(self, role: _Role) -> str:
        if embedded(role.base_url) is not None:
            return NO_KEY  # a hosted key has no business with the embedded server
        return os.environ.get(role.settings.api_key_env or "", "") or NO_KEY

    def _endpoint(self, role: _Role):
        """This loop's connection pool for the role's endpoint (the direct HTTP path)."""
        state = self._loop_state()
        endpoint = state["http"].get(role.name)
        if endpoint is None:
            endpoint = ChatEndpoint(role.base_url, self._api_key(role),
                                    connections=self._limit(role.base_url) + 2,
                                    timeout_s=role.settings.timeout_s,
                                    loop=asyncio.get_running_loop(), registry=state["sessions"])
            state["http"][role.name] = endpoint
        return endpoint

    async def aclose(self) -> None:
        """Close this event loop's HTTP connections (safe to call more than once)."""
        state = self._per_loop.pop(asyncio.get_running_loop(), None)
        if state is None:
            return
        for endpoint in state["http"].values():
            await endpoint.aclose()
        state["sessions"].clear()
        for chat in state["chat"].values():
            await chat.http_async_client.aclose()

    def _chat(self, role: _Role):
        """This loop's ChatOpenAI for the role (streaming only: `crib chat`)."""
        state = self._loop_state()
        chat = state["chat"].get(role.name)
        if chat is None:
            import httpx
            from langchain_openai import ChatOpenAI

            s, n = role.settings, self._limit(role.base_url) + 2
            chat = ChatOpenAI(
                model=role.model, base_url=role.base_url, api_key=self._api_key(role),
                max_retries=0, timeout=s.timeout_s, stream_usage=True,
                http_async_client=httpx.AsyncClient(timeout=s.timeout_s, limits=httpx.Limits(
                    max_connections=n, max_keepalive_connections=n)))
            state["chat"][role.name] = chat
        return chat

    def _semaphore(self, base_url: str) -> asyncio.Semaphore:
        sems = self._loop_state()["sem"]
        if base_url not in sems:
            sems[base_url] = asyncio.Semaphore(self._limit(base_url))
        return sems[base_url]

    def _params(self, role: _Role, messages: list[dict], attempt: int, temperature, max_tokens,
                stop, seed, response_format) -> dict[str, Any]:
        s = role.settings
        temperature = s.temperature if temperature is None else temperature
        if seed is None and temperature:
            seed = derive_seed(messages, attempt)
        return {"temperature": temperature,
                "max_tokens": s.max_tokens if max_tokens is None else max_tokens,
                "stop": list(stop) if stop else None, "seed": seed,
                "response_format": response_format}

    @staticmethod
    def _call_kwargs(params: dict[str, Any]) -> dict[str, Any]:
        kwargs = {k: v for k, v in params.items() if v is not None and k != "response_format"}
        if params.get("response_format") is not None:
            # Through extra_body: ChatOpenAI would otherwise switch to openai's `parse()` path.
            kwargs["extra_body"] = {"response_format": params["response_format"]}
        return kwargs

    async def _store(self, row: dict, key: str | None = None, model: str = "",
                     response: dict | None = None) -> None:
        """A call's ledger row (and, for a successful one, its cache entry) in one transaction
        of the SQL writer thread; returns once committed. Not cancelled with the caller: a
        call that was made is recorded."""
        if self.ledger.engine is None:
            self.ledger.record(**row)
            return

        def write(conn):
            committed = self.ledger.record(conn, **row)
            if key is not None:
                self.cache.put(key, model, response, conn)
            return committed

        future = self._writer.submit(write)
        future.add_done_callback(  # counted once committed, even if the caller is gone
            lambda f: None if f.cancelled() or f.exception() else self.ledger.committed(f.result()))
        await asyncio.shield(asyncio.wrap_future(future))

    async def _record(self, **row) -> None:
        await self._store(row)

    # -- the call --------------------------------------------------------------------------
    async def complete(self, messages: list[dict], role: str = "solver", attempt: int = 0,
                       temperature: float | None = None, max_tokens: int | None = None,
                       stop: list[str] | None = None, seed: int | None = None,
                       response_format: dict | None = None, run_id: str | None = None,
                       attempt_id: str | None = None) -> Completion:
        completion, _ = await self._call(messages, role, attempt, temperature, max_tokens, stop,
                                         seed, response_format, run_id, attempt_id)
        return completion

    async def _call(self, messages, role_name, attempt, temperature, max_tokens, stop, seed,
                    response_format, run_id, attempt_id,
                    validate: Callable[[str], Any] | None = None) -> tuple[Completion, Any]:
        role = self.role(role_name)
        params = self._params(role, messages, attempt, temperature, max_tokens, stop, seed,
                              response_format)
        key = (cache_key(role.model, self._endpoint_id(role), messages, params, attempt)
               if self.cache.reads or self.cache.writes else "")  # --cache off: no key needed
        run = run_id if run_id is not None else self.run_id
        base_row = {"run_id": run, "attempt_id": attempt_id, "role": role.name,
                    "model": role.model, "base_url": role.base_url}

        hit = await asyncio.to_thread(self.cache.get, key) if self.cache.reads else None
        if hit is not None:
            value, ok = self._validated(hit["text"], validate)
            if ok:  # a cached reply that no longer validates is treated as a miss
                await self._record(**base_row, tokens_in=hit["tokens_in"], tokens_out=hit["tokens_out"],
                                   cost_usd=0.0, latency_ms=0.0, cached=True)
                return Completion(text=hit["text"], tokens_in=hit["tokens_in"],
                                  tokens_out=hit["tokens_out"], cached=True, model=hit["model"],
                                  finish_reason=hit.get("finish_reason"), role=role.name,
                                  attempt=attempt), value

        await self.budget.check(run)
        endpoint = self._endpoint(role)  # built before the clock starts
        started = time.monotonic()
        text, tokens_in, tokens_out, model, finish = await self._with_retries(
            endpoint, role, messages, params, base_row)
        latency_ms = (time.monotonic() - started) * 1000
        model = model or role.model
        cost = cost_usd(role.model, tokens_in, tokens_out, self.prices)
        await self.budget.add(run, tokens_in + tokens_out, cost)
        row = {**base_row, "tokens_in": tokens_in, "tokens_out": tokens_out, "cost_usd": cost,
               "latency_ms": latency_ms, "cached": False}
        value, ok = self._validated(text, validate)
        if not ok:
            reason = f"structured output: {value}"
            await self._record(**row, error=reason[:2000])
            raise StructuredOutputError(
                f"{role.name} reply from {role.model} at {role.base_url} is not valid: {value}"
                + (" (the reply was cut at max_tokens)" if finish == "length" else ""), raw=text)
        await self._store(row, key, role.model, {
            "text": text, "tokens_in": tokens_in, "tokens_out": tokens_out, "model": model,
            "finish_reason": finish})
        return Completion(text=text, tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost,
                          latency_ms=latency_ms, cached=False, model=model, finish_reason=finish,
                          role=role.name, attempt=attempt), value

    @staticmethod
    def _validated(text: str, validate) -> tuple[Any, bool]:
        if validate is None:
            return None, True
        try:
            return validate(text), True
        except ValueError as exc:
            return str(exc), False

    async def _with_retries(self, endpoint, role: _Role, messages: list[dict], params: dict,
                            base_row: dict):
        body = request_body(role.model, messages, self._call_kwargs(params))
        retries = role.settings.max_retries if role.settings.max_retries is not None else 4
        timeout = role.settings.timeout_s
        failure: Failure | None = None
        for attempt_no in range(retries + 1):
            sem = self._semaphore(role.base_url)
            self._queued += 1  # (acquire does not yield when a place is free)
            try:
                await sem.acquire()
            finally:
                self._queued -= 1
            try:
                async with asyncio.timeout(timeout):
                    return await endpoint.complete(body)
            except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
                failure = classify(exc)
                if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and timeout:
                    failure = Failure(True, None, None, f"timed out after {timeout:g} s")
            finally:
                sem.release()
            if not failure.retryable or attempt_no == retries:
                break
            await asyncio.sleep(self.backoff.delay(attempt_no, failure))
        tries = attempt_no + 1
        message = (f"{role.name} call to {role.model} at {role.base_url} failed"
                   f"{f' after {tries} attempts' if tries > 1 else ''}: {failure.description}")
        await self._record(**base_row, tokens_in=0, tokens_out=0, cost_usd=0.0, latency_ms=0.0,
                           cached=False, error=message[:2000])
        raise EndpointError(message, status=failure.status, attempts=tries)

    # -- structured output -----------------------------------------------------------------
    async def structured(self, messages: list[dict], schema: type[T], role: str = "meta",
                         attempt: int = 0, temperature: float | None = None,
                         max_tokens: int | None = None, run_id: str | None = None,
                         attempt_id: str | None = None, usage: Any = None) -> T:
        """The reply parsed into `schema`; StructuredOutputError(raw=...) when it cannot be.
        With `usage` (an object with tokens_in/tokens_out/cost_usd counters, e.g. an attempt's),
        the call's tokens and cost are added to it."""
        base_url = self.role(role).base_url
        start = self._structured_mode.get(base_url, 0)
        last: EndpointError | None = None
        for index in range(start, len(so.MODES)):
            mode = so.MODES[index]
            try:
                completion, value = await self._call(
                    so.messages_for(messages, schema, mode), role, attempt, temperature, max_tokens,
                    None, None, so.response_format(schema, mode), run_id, attempt_id,
                    validate=lambda text: so.parse_into(text, schema))
            except EndpointError as exc:
                refused = exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 409, 429)
                if refused and mode != "prompt":
                    last = exc  # this endpoint does not take this response_format: next mode
                    continue
                raise
            self._structured_mode[base_url] = index
            if usage is not None:
                usage.tokens_in += completion.tokens_in
                usage.tokens_out += completion.tokens_out
                usage.cost_usd += completion.cost_usd
            return value
        raise last or LLMError("no structured output mode worked")

    # -- streaming -------------------------------------------------------------------------
    async def stream(self, messages: list[dict], role: str = "solver", attempt: int = 0,
                     temperature: float | None = None, max_tokens: int | None = None,
                     stop: list[str] | None = None, run_id: str | None = None,
                     attempt_id: str | None = None) -> AsyncIterator[str]:
        """Text pieces as they arrive; the call is cached and recorded when it ends."""
        r = self.role(role)
        params = self._params(r, messages, attempt, temperature, max_tokens, stop, None, None)
        key = cache_key(r.model, self._endpoint_id(r), messages, params, attempt)
        run = run_id if run_id is not None else self.run_id
        base_row = {"run_id": run, "attempt_id": attempt_id, "role": r.name, "model": r.model,
                    "base_url": r.base_url}
        hit = await asyncio.to_thread(self.cache.get, key) if self.cache.reads else None
        if hit is not None:
            await self._record(**base_row, tokens_in=hit["tokens_in"], tokens_out=hit["tokens_out"],
                               cost_usd=0.0, latency_ms=0.0, cached=True)
            yield hit["text"]
            return
        await self.budget.check(run)
        pieces: list[str] = []
        usage: dict = {}
        finish = None
        chat = self._chat(r)
        started = time.monotonic()
        try:
            async with self._semaphore(r.base_url):
                async for chunk in chat.astream(messages, **self._call_kwargs(params)):
                    usage = chunk.usage_metadata or usage
                    finish = chunk.response_metadata.get("finish_reason") or finish
                    if isinstance(chunk.content, str) and chunk.content:
                        pieces.append(chunk.content)
                        yield chunk.content
        except GeneratorExit:
            # The caller stopped reading (Ctrl-C in chat): the tokens were spent all the same.
            # llama.cpp and OpenAI send about one token a piece; the prompt size is unknown.
            await self._record(**base_row, tokens_in=0, tokens_out=len(pieces), cost_usd=0.0,
                               latency_ms=(time.monotonic() - started) * 1000, cached=False,
                               error=f"stream stopped by the caller after {len(pieces)} pieces")
            raise
        except Exception as exc:  # noqa: BLE001 - no retry once pieces may have been shown
            failure = classify(exc)
            message = f"{r.name} stream from {r.model} at {r.base_url} failed: {failure.description}"
            await self._record(**base_row, tokens_in=0, tokens_out=0, cost_usd=0.0,
                               latency_ms=0.0, cached=False, error=message[:2000])
            raise EndpointError(message, status=failure.status) from exc
        tokens_in, tokens_out = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
        cost = cost_usd(r.model, tokens_in, tokens_out, self.prices)
        await self.budget.add(run, tokens_in + tokens_out, cost)
        await self._record(**base_row, tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost,
                           latency_ms=(time.monotonic() - started) * 1000, cached=False)
        if self.cache.writes:
            await asyncio.to_thread(self.cache.put, key, r.model, {
                "text": "".join(pieces), "tokens_in": tokens_in, "tokens_out": tokens_out,
                "model": r.model, "finish_reason": finish})

    # -- accounting and adapters -----------------------------------------------------------
    def spend(self, run_id: str | None = None, fresh: bool = False) -> Spend:
        """The run's spend (see `Ledger.spend`; free for a tracked run unless `fresh`)."""
        return self.ledger.spend(run_id if run_id is not None else self.run_id, fresh=fresh)

    def track(self, run_id: str | None) -> None:
        """Keep the run's spend as running totals (see `Ledger.track`): for the process that
        makes the run's calls, before the first one."""
        self.ledger.track(run_id)

    def completer(self, role: str, **defaults) -> Callable[[list[dict]], Awaitable[str]]:
        """`async (messages) -> text` for lower layers (the memory curator takes one)."""
        async def complete(messages: list[dict]) -> str:
            return (await self.complete(messages, role=role, **defaults)).text
        return complete
