"""`LLM`: the one async interface every part of Crib uses to talk to language models.

One path for every call, completion, structured output and stream alike: LangChain's chat-model
interface (`agents/llm/chat_models.py`: ChatOpenAI for OpenAI-compatible endpoints, any
provider LangChain supports by name). Around each call, the same steps: the SQL response cache,
the budget check, a per-endpoint concurrency limit (`agents/llm/endpoints.py`), retries with
backoff (ours, honouring Retry-After; a stream retries only before its first piece), a per-call
timeout, one ledger row (with `tries`: the requests it sent, retries included; 0 when cached)
and one record for the optional `recorder` (agents/llm/recorder.py).
See docs/interfaces.md ("Language models"). Call `await llm.aclose()` when done on a loop
(crib's wiring does) to close its connections.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Mapping, TypeVar

from pydantic import BaseModel
from sqlalchemy import Engine

from crib.agents.llm import structured as so
from crib.agents.llm.budget import Budget
from crib.agents.llm.cache import CacheMode, ResponseCache, cache_key
from crib.agents.llm.chat_models import (OPENAI_KEY_ENV, build_chat_model, call_options,
                                         reply_of, require_endpoint, text_of)
from crib.agents.llm.completion import Completion, LedgerSpend
from crib.agents.llm.endpoints import Endpoints
from crib.agents.llm.errors import EndpointError, LLMError, StructuredOutputError
from crib.agents.llm.ledger import Ledger
from crib.agents.llm.local_server import embedded
from crib.agents.llm.prices import PRICES_PER_MTOK, cost_usd
from crib.agents.llm.recorder import CallKind, CallRecord, CallRecorder
from crib.agents.llm.retry import RETRY_STATUSES, Backoff, Failure, classify
from crib.agents.llm.settings import ModelSettings
from crib.agents.llm.sql_writer import SqlWriter

if TYPE_CHECKING:  # langchain loads only when a chat model is built
    from langchain_core.messages import UsageMetadata

T = TypeVar("T", bound=BaseModel)
NO_KEY = "sk-no-key"  # local servers want some key; never a real one
log = logging.getLogger("crib.llm")


@dataclass(frozen=True)
class _Role:
    name: str
    settings: ModelSettings
    model: str
    endpoint: str  # the base URL, or "provider:<name>" for a provider without one

    @property
    def retries(self) -> int:
        return self.settings.max_retries if self.settings.max_retries is not None else 4


@dataclass
class _Call:
    """One call on its way: what was asked, and where its ledger row and record go."""

    kind: CallKind
    role: _Role
    messages: list[dict]
    params: dict[str, Any]
    attempt: int
    run: str | None
    attempt_id: str | None
    key: str
    endpoint_id: str


class _Failed(Exception):
    def __init__(self, failure: Failure, tries: int) -> None:
        self.failure, self.tries = failure, tries


def derive_seed(messages: list[dict], attempt: int) -> int:
    """A stable seed per (prompt, attempt): replays reproduce on servers that honour seeds."""
    blob = json.dumps([messages, attempt], sort_keys=True, ensure_ascii=False).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF


class LLM:
    """One per process. `roles` maps a role name to fully resolved ModelSettings (a model, and
    a base_url or a provider: crib's wiring fills in the embedded server for roles without)."""

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
        recorder: CallRecorder | None = None,
    ) -> None:
        self._roles: dict[str, _Role] = {}
        configured: dict[str, int | None] = {}
        for name, s in roles.items():
            model = require_endpoint(name, s)
            endpoint = s.base_url.rstrip("/") if s.base_url else f"provider:{s.provider}"
            self._roles[name] = _Role(name, s, model, endpoint)
            # Roles sharing an endpoint share its limit (the largest any of them sets).
            configured[endpoint] = max(filter(None, (configured.get(endpoint), s.concurrency)),
                                       default=None)
        self.cache = ResponseCache(engine, cache)
        self.ledger = Ledger(engine)
        self._writer = SqlWriter(engine) if engine is not None else None
        self.run_id = run_id
        self.budget = Budget(self.ledger, budget_tokens, budget_usd)
        self.prices = dict(prices) if prices is not None else PRICES_PER_MTOK
        self.backoff = backoff or Backoff()
        self.recorder = recorder
        # The cache names an endpoint by its URL, unless given a stable id: the embedded
        # server gets a new port every start, but "embedded:<model>" replays across runs.
        self._endpoint_ids = {u.rstrip("/"): i for u, i in (endpoint_ids or {}).items()}
        self._endpoints = Endpoints(configured)
        self._structured_mode: dict[str, int] = {}  # endpoint -> index into so.MODES

    # -- plumbing --------------------------------------------------------------------------
    @property
    def writer(self) -> SqlWriter | None:
        """The thread that commits this client's ledger rows (None without an engine). Others
        writing to the same engine may send their writes through it to share its group
        commits (`crib solve` does, for its result rows)."""
        return self._writer

    def want_in_flight(self, n: int) -> list[str]:
        """Up to `n` calls in flight per endpoint (a batch's --concurrency); returns the caps
        that keep an endpoint lower, each also logged once (see agents/llm/endpoints.py)."""
        return self._endpoints.want_in_flight(n)

    def prepare(self) -> None:
        """Build this event loop's chat models now: the first one imports LangChain and the
        SDK (≈1 s of CPU), which a batch would otherwise pay on its first call."""
        for role in self._roles.values():
            self._chat(role)

    def role(self, name: str) -> _Role:
        try:
            return self._roles[name]
        except KeyError:
            raise LLMError(f"unknown role {name!r}; configured roles: "
                           f"{', '.join(self._roles)}") from None

    def _endpoint_id(self, role: _Role) -> str:
        if role.endpoint not in self._endpoint_ids:
            server = embedded(role.endpoint)  # started in this process: name it by its model
            if server is None:
                return role.endpoint
            self._endpoint_ids[role.endpoint] = server.endpoint_id
        return self._endpoint_ids[role.endpoint]

    def _api_key(self, role: _Role) -> str | None:
        s = role.settings
        if embedded(role.endpoint) is not None:
            return NO_KEY  # a hosted key has no business with the embedded server
        key = os.environ.get(s.api_key_env or "", "")
        if s.provider is not None:  # its package reads its own variable unless told another
            return key if key and s.api_key_env != OPENAI_KEY_ENV else None
        return key or NO_KEY

    def _chat(self, role: _Role):
        return self._endpoints.chat(role.name, lambda connections: build_chat_model(
            role.settings, role.model, role.settings.base_url, self._api_key(role), connections))

    async def aclose(self) -> None:
        """Close this event loop's HTTP connections (safe to call more than once). A loop that
        `asyncio.run` shuts down has them closed without it (agents/llm/endpoints.py)."""
        await self._endpoints.close_loop()

    # -- the shared steps --------------------------------------------------------------------
    def _prepare(self, kind: CallKind, messages, role_name, attempt, temperature, max_tokens,
                 stop, seed, response_format, run_id, attempt_id) -> _Call:
        role = self.role(role_name)
        s = role.settings
        temperature = s.temperature if temperature is None else temperature
        if seed is None and temperature:
            seed = derive_seed(messages, attempt)
        params = {"temperature": temperature,
                  "max_tokens": s.max_tokens if max_tokens is None else max_tokens,
                  "stop": list(stop) if stop else None, "seed": seed,
                  "response_format": response_format}
        endpoint_id = self._endpoint_id(role)
        key = (cache_key(role.model, endpoint_id, messages, params, attempt)
               if self.cache.reads or self.cache.writes else "")  # --cache off: no key needed
        return _Call(kind, role, messages, params, attempt,
                     run_id if run_id is not None else self.run_id, attempt_id, key, endpoint_id)

    async def _cached(self, call: _Call) -> dict | None:
        return await asyncio.to_thread(self.cache.get, call.key) if self.cache.reads else None

    async def _store(self, call: _Call, text: str, tokens_in: int, tokens_out: int,
                     cost: float, latency_ms: float, cached: bool, error: str | None = None,
                     reply: dict | None = None, tries: int = 1) -> None:
        """The call's record, then its ledger row (and, with `reply`, its cache entry) in one
        transaction of the SQL writer thread; returns once committed. Not cancelled with the
        caller: a call that was made is recorded. `tries`: the requests the call sent."""
        tries = 0 if cached else tries
        self._record(call, text, tokens_in, tokens_out, latency_ms, cached, error, reply, tries)
        row = {"run_id": call.run, "attempt_id": call.attempt_id, "role": call.role.name,
               "model": call.role.model, "base_url": call.role.endpoint, "tokens_in": tokens_in,
               "tokens_out": tokens_out, "cost_usd": cost, "latency_ms": latency_ms,
               "cached": cached, "tries": tries,
               "error": error[:2000] if error else None}
        if self._writer is None:  # no engine: the ledger keeps the row in memory
            self.ledger.record(None, **row)
            return
        key = call.key if reply is not None and self.cache.writes else None

        def write(conn):
            committed = self.ledger.record(conn, **row)
            if key is not None:
                self.cache.put(key, call.role.model, reply, conn)
            return committed

        future = self._writer.submit(write)
        future.add_done_callback(  # counted once committed, even if the caller is gone
            lambda f: None if f.cancelled() or f.exception() else self.ledger.committed(f.result()))
        await asyncio.shield(asyncio.wrap_future(future))

    def _record(self, call: _Call, text, tokens_in, tokens_out, latency_ms, cached, error,
                reply, tries) -> None:
        if self.recorder is None:
            return
        extra = {"finish_reason": reply.get("finish_reason")} if reply else {}
        extra["tries"] = tries
        try:
            self.recorder.record(CallRecord(
                call.kind, call.run, call.attempt_id, call.role.name, call.role.model,
                call.endpoint_id, call.messages, dict(call.params), text, tokens_in, tokens_out,
                latency_ms, cached, error, extra))
        except Exception:  # noqa: BLE001 - a recorder's fault never fails the call
            log.exception("the call recorder failed")

    async def _failed(self, call: _Call, failure: Failure, tries: int, what: str) -> EndpointError:
        r = call.role
        message = (f"{r.name} {what} {r.model} at {r.endpoint} failed"
                   f"{f' after {tries} attempts' if tries > 1 else ''}: {failure.description}")
        await self._store(call, "", 0, 0, 0.0, 0.0, False, message, tries=tries)
        return EndpointError(message, status=failure.status, attempts=tries)

    def _failure(self, exc: BaseException, timeout: float | None) -> Failure:
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and timeout:
            return Failure(True, None, None, f"timed out after {timeout:g} s")
        return classify(exc)

    # -- completions -----------------------------------------------------------------------
    async def complete(self, messages: list[dict], role: str = "solver", attempt: int = 0,
                       temperature: float | None = None, max_tokens: int | None = None,
                       stop: list[str] | None = None, seed: int | None = None,
                       response_format: dict | None = None, run_id: str | None = None,
                       attempt_id: str | None = None) -> Completion:
        call = self._prepare("complete", messages, role, attempt, temperature, max_tokens, stop,
                             seed, response_format, run_id, attempt_id)
        completion, _ = await self._call(call)
        return completion

    async def _call(self, call: _Call, validate: Callable[[str], Any] | None = None
                    ) -> tuple[Completion, Any]:
        role = call.role
        hit = await self._cached(call)
        if hit is not None:
            value, ok = _validated(hit["text"], validate)
            if ok:  # a cached reply that no longer validates is treated as a miss
                await self._store(call, hit["text"], hit["tokens_in"], hit["tokens_out"], 0.0,
                                  0.0, True)
                return Completion(text=hit["text"], tokens_in=hit["tokens_in"],
                                  tokens_out=hit["tokens_out"], cached=True, model=hit["model"],
                                  finish_reason=hit.get("finish_reason"), role=role.name,
                                  attempt=call.attempt), value

        await self.budget.check(call.run)
        chat, options = self._chat(role), call_options(call.params)  # before the clock starts
        started = time.monotonic()
        try:
            reply, tries = await self._with_retries(call, chat, options)
        except _Failed as failed:
            raise await self._failed(call, failed.failure, failed.tries, "call to") from None
        latency_ms = (time.monotonic() - started) * 1000
        text, tokens_in, tokens_out, model, finish = reply
        model = model or role.model
        cost = cost_usd(role.model, tokens_in, tokens_out, self.prices)
        await self.budget.add(call.run, tokens_in + tokens_out, cost)
        value, ok = _validated(text, validate)
        if not ok:
            await self._store(call, text, tokens_in, tokens_out, cost, latency_ms, False,
                              f"structured output: {value}", tries=tries)
            raise StructuredOutputError(
                f"{role.name} reply from {role.model} at {role.endpoint} is not valid: {value}"
                + (" (the reply was cut at max_tokens)" if finish == "length" else ""), raw=text)
        await self._store(call, text, tokens_in, tokens_out, cost, latency_ms, False, reply={
            "text": text, "tokens_in": tokens_in, "tokens_out": tokens_out, "model": model,
            "finish_reason": finish}, tries=tries)
        return Completion(text=text, tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost,
                          latency_ms=latency_ms, cached=False, model=model, finish_reason=finish,
                          role=role.name, attempt=call.attempt), value

    async def _with_retries(self, call: _Call, chat, options: dict) -> tuple[tuple, int]:
        """The reply and the number of requests it took (retries included)."""
        role, timeout = call.role, call.role.settings.timeout_s
        tried = 0
        while True:  # ends by a reply, or by _Failed once retries are spent
            tried += 1
            async with self._endpoints.place(role.endpoint):
                try:
                    async with asyncio.timeout(timeout):
                        return reply_of(await chat.ainvoke(call.messages, **options)), tried
                except Exception as exc:  # noqa: BLE001 - classified, never swallowed
                    failure = self._failure(exc, timeout)
            if not failure.retryable or tried > role.retries:
                raise _Failed(failure, tried)
            await asyncio.sleep(self.backoff.delay(tried - 1, failure))

    # -- structured output -----------------------------------------------------------------
    async def structured(self, messages: list[dict], schema: type[T], role: str = "meta",
                         attempt: int = 0, temperature: float | None = None,
                         max_tokens: int | None = None, run_id: str | None = None,
                         attempt_id: str | None = None, usage: Any = None) -> T:
        """The reply parsed into `schema`; StructuredOutputError(raw=...) when it cannot be.
        With `usage` (an object with tokens_in/tokens_out/cost_usd counters, e.g. an attempt's),
        the call's tokens and cost are added to it."""
        endpoint = self.role(role).endpoint
        start = self._structured_mode.get(endpoint, 0)
        last: EndpointError | None = None
        for index in range(start, len(so.MODES)):
            mode = so.MODES[index]
            call = self._prepare("structured", so.messages_for(messages, schema, mode), role,
                                 attempt, temperature, max_tokens, None, None,
                                 so.response_format(schema, mode), run_id, attempt_id)
            try:
                completion, value = await self._call(
                    call, validate=lambda text: so.parse_into(text, schema))
            except EndpointError as exc:
                refused = (exc.status is not None and 400 <= exc.status < 500
                           and exc.status not in RETRY_STATUSES)
                if refused and mode != "prompt":
                    last = exc  # this endpoint does not take this response_format: next mode
                    continue
                raise
            self._structured_mode[endpoint] = index
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
        """Text pieces as they arrive, through the same cache, budget, limit, retries (until
        the first piece), ledger and recorder as `complete`. The timeout bounds the wait for
        the first piece; later ones each wait at most the HTTP client's read timeout."""
        call = self._prepare("stream", messages, role, attempt, temperature, max_tokens, stop,
                             None, None, run_id, attempt_id)
        hit = await self._cached(call)
        if hit is not None:
            await self._store(call, hit["text"], hit["tokens_in"], hit["tokens_out"], 0.0, 0.0,
                              True)
            yield hit["text"]
            return
        await self.budget.check(call.run)
        r, timeout = call.role, call.role.settings.timeout_s
        chat, options = self._chat(r), call_options(call.params)
        pieces: list[str] = []
        usage: UsageMetadata | None = None
        finish, started = None, time.monotonic()
        for tried in range(1, r.retries + 2):
            try:
                async with self._endpoints.place(r.endpoint):
                    chunks = aiter(chat.astream(call.messages, **options))
                    async with asyncio.timeout(timeout):  # no yield inside: see the docstring
                        chunk = await anext(chunks, None)
                    while chunk is not None:
                        usage = chunk.usage_metadata or usage
                        finish = (chunk.response_metadata or {}).get("finish_reason") or finish
                        piece = text_of(chunk.content)
                        if piece:
                            pieces.append(piece)
                            yield piece
                        chunk = await anext(chunks, None)
                break
            except GeneratorExit:
                # The caller stopped reading (Ctrl-C in chat): the tokens were spent all the
                # same. llama.cpp and OpenAI send about one token a piece; the prompt size is
                # unknown.
                await self._store(call, "".join(pieces), 0, len(pieces), 0.0,
                                  (time.monotonic() - started) * 1000, False,
                                  f"stream stopped by the caller after {len(pieces)} pieces",
                                  tries=tried)
                raise
            except Exception as exc:  # noqa: BLE001 - classified, never swallowed
                failure = self._failure(exc, timeout)
                if pieces or not failure.retryable or tried > r.retries:  # shown: no retry
                    raise await self._failed(call, failure, tried, "stream from") from exc
                await asyncio.sleep(self.backoff.delay(tried - 1, failure))
        text = "".join(pieces)
        tokens_in = int(usage.get("input_tokens") or 0) if usage else 0
        tokens_out = int(usage.get("output_tokens") or 0) if usage else 0
        cost = cost_usd(r.model, tokens_in, tokens_out, self.prices)
        await self.budget.add(call.run, tokens_in + tokens_out, cost)
        await self._store(call, text, tokens_in, tokens_out, cost,
                          (time.monotonic() - started) * 1000, False, reply={
                              "text": text, "tokens_in": tokens_in, "tokens_out": tokens_out,
                              "model": r.model, "finish_reason": finish}, tries=tried)

    # -- accounting and adapters -----------------------------------------------------------
    def spend(self, run_id: str | None = None, fresh: bool = False) -> LedgerSpend:
        """The run's spend (see `Ledger.spend`; free for a tracked run unless `fresh`)."""
        return self.ledger.spend(run_id if run_id is not None else self.run_id, fresh=fresh)

    def track(self, run_id: str | None) -> None:
        """Keep the run's spend as running totals (see `Ledger.track`): for the process that
        makes the run's calls, before the first one."""
        self.ledger.track(run_id)

    def completer(self, role: str, **defaults) -> Callable[..., Awaitable[str]]:
        """`async (messages, **params) -> text` for lower layers (the memory curator and the
        skill loop take one); `params` (a temperature, say) override `defaults` for one call.
        A request made again gets the next sample index, as an agent's repeated call does
        (agents/attempts.py): the same index would replay the cached reply, or the same seed,
        so a skill repair asked twice would get the same unusable answer twice."""
        seen: dict[str, int] = {}

        async def complete(messages: list[dict], **params) -> str:
            merged = {**defaults, **params}
            request = hashlib.sha256(json.dumps([messages, merged], sort_keys=True,
                                                default=str).encode()).hexdigest()
            repeat = seen[request] = seen.get(request, -1) + 1
            merged.setdefault("attempt", repeat)
            return (await self.complete(messages, role=role, **merged)).text
        return complete


def _validated(text: str, validate) -> tuple[Any, bool]:
    if validate is None:
        return None, True
    try:
        return validate(text), True
    except ValueError as exc:
        return str(exc), False
