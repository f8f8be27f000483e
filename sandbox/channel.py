"""Host side of the narrow channel: validate each guest request, enforce the run's budgets,
and answer. The guest may ask for `complete` (forwarded to the caller's handler),
`complete_many` (up to MAX_BATCH_CALLS completions in one request, run at once through the
same handler, each answered on its own), `cheatsheet` and `run_python` (a nested snippet
run), and send one final `result`. Anything else ends the run with a clear error."""
from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any, Awaitable, Callable

from crib.sandbox.limits import MAX_BATCH_CALLS, Limits

Handler = Callable[[str, dict], Awaitable[Any]]
NestedRunner = Callable[[dict], Awaitable[dict]]

ROLES = {"system", "user", "assistant"}
LLM_ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
RESPONSE_TYPES = {"text", "json_object", "json_schema"}
MAX_MESSAGES = 500


class ProtocolViolation(Exception):
    """The guest sent something the channel does not allow; the run is ended."""


def _number(params: dict, key: str, lo: float, hi: float, integer: bool = False) -> None:
    if key not in params or params[key] is None:
        return
    v = params[key]
    ok_type = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok_type or not math.isfinite(v) or not lo <= v <= hi:
        kind = "an integer" if integer else "a number"
        raise ProtocolViolation(f"complete: {key} must be {kind} in [{lo}, {hi}], got {v!r}")


def validate_complete(params: dict, max_chars: int) -> dict:
    """Checks a `complete` request; returns the params the handler sees (role defaulted)."""
    allowed = {"messages", "role", "temperature", "max_tokens", "top_p", "stop", "seed",
               "response_format"}
    unknown = set(params) - allowed
    if unknown:
        raise ProtocolViolation(f"complete: unknown parameters {sorted(unknown)}")
    msgs = params.get("messages")
    if not isinstance(msgs, list) or not 0 < len(msgs) <= MAX_MESSAGES:
        raise ProtocolViolation(f"complete: messages must be a list of 1..{MAX_MESSAGES} items")
    total = 0
    for i, m in enumerate(msgs):
        if (not isinstance(m, dict) or set(m) != {"role", "content"} or m["role"] not in ROLES
                or not isinstance(m["content"], str)):
            raise ProtocolViolation(f"complete: messages[{i}] must be "
                                    "{'role': system|user|assistant, 'content': str}")
        total += len(m["content"])
    if total > max_chars:
        raise ProtocolViolation(f"complete: messages hold {total} characters (> {max_chars})")
    role = params.get("role") or "solver"
    if not isinstance(role, str) or not LLM_ROLE.match(role):
        raise ProtocolViolation(f"complete: bad role {role!r}")
    _number(params, "temperature", 0.0, 2.0)
    _number(params, "top_p", 0.0, 1.0)
    _number(params, "max_tokens", 1, 1_000_000, integer=True)
    _number(params, "seed", -(2**63), 2**63 - 1, integer=True)
    stop = params.get("stop")
    if stop is not None and not (isinstance(stop, str) or (
            isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop))):
        raise ProtocolViolation("complete: stop must be a string or a list of up to 4 strings")
    rf = params.get("response_format")
    if rf is not None and not (isinstance(rf, dict) and rf.get("type") in RESPONSE_TYPES):
        raise ProtocolViolation(
            f"complete: response_format.type must be one of {sorted(RESPONSE_TYPES)}")
    out = {k: v for k, v in params.items() if v is not None}
    out["role"] = role
    return out


def _field(result: Any, *names: str) -> Any:
    for name in names:
        if isinstance(result, dict) and name in result:
            return result[name]
        if not isinstance(result, dict) and hasattr(result, name):
            return getattr(result, name)
    return None


class ChannelServer:
    def __init__(self, limits: Limits, handler: Handler | None, cheatsheet: str,
                 nested: NestedRunner | None) -> None:
        self.limits = limits
        self.handler = handler
        self.cheatsheet = cheatsheet
        self.nested = nested
        self.calls = self.tokens_in = self.tokens_out = self.nested_runs = 0
        self.limit_hit: str | None = None
        self.violation: str | None = None
        self.result: dict | None = None

    async def serve(self, sock: Any) -> None:
        reader, writer = await asyncio.open_connection(
            sock=sock, limit=self.limits.max_message_bytes)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    raise ProtocolViolation(f"a channel message exceeds "
                                            f"{self.limits.max_message_bytes} bytes") from None
                if not line:
                    return
                reply = await self._handle(line)
                if reply is not None:
                    writer.write((json.dumps(reply) + "\n").encode())
                    await writer.drain()
        except ProtocolViolation as e:
            self.violation = str(e)
        except (ConnectionError, BrokenPipeError):
            return
        finally:
            writer.close()

    async def _handle(self, line: bytes) -> dict | None:
        try:
            msg = json.loads(line)
        except ValueError:
            raise ProtocolViolation(f"not a JSON line: {line[:80]!r}") from None
        if not isinstance(msg, dict) or not isinstance(msg.get("params", {}), dict):
            raise ProtocolViolation("a channel message must be an object with object params")
        method, params = msg.get("method"), msg.get("params", {})
        if method == "result":
            if self.result is not None:
                raise ProtocolViolation("a second result message")
            self.result = params
            return None
        msg_id = msg.get("id")
        if not isinstance(msg_id, int) or isinstance(msg_id, bool):
            raise ProtocolViolation(f"request without an integer id: {method!r}")
        if method == "complete":
            return {"id": msg_id, **await self._complete(params)}
        if method == "complete_many":
            return {"id": msg_id, **await self._complete_many(params)}
        if method == "cheatsheet":
            return {"id": msg_id, "result": {"text": self.cheatsheet}}
        if method == "run_python":
            return {"id": msg_id, **await self._run_python(params)}
        raise ProtocolViolation(f"unknown method {method!r} (allowed: complete, complete_many, "
                                "cheatsheet, run_python, result)")

    def _budget_error(self, limit: str, text: str) -> dict:
        self.limit_hit = self.limit_hit or limit
        return {"error": text, "kind": "budget"}

    def _refusal(self, calls: int) -> dict | None:
        """Why `calls` more completions may not start now (no handler, a budget), or None."""
        if self.handler is None:
            return {"error": "no LLM is connected to this sandbox run (no rpc handler was given)"}
        cap = self.limits.max_llm_calls
        if self.calls + calls > cap:
            text = (f"LLM call budget spent ({cap} calls)" if calls == 1 else
                    f"LLM call budget: a batch of {calls} calls does not fit in the "
                    f"{cap - self.calls} left of {cap}")
            return self._budget_error("llm_calls", text)
        if self.tokens_in + self.tokens_out >= self.limits.max_tokens:
            return self._budget_error("tokens",
                                      f"token budget spent ({self.limits.max_tokens} tokens)")
        return None

    async def _complete(self, params: dict) -> dict:
        clean = validate_complete(params, self.limits.max_message_bytes)
        refused = self._refusal(1)
        if refused is not None:
            return refused
        self.calls += 1
        return await self._call(clean)

    async def _complete_many(self, params: dict) -> dict:
        """All items are validated first (a bad one ends the run, as for `complete`), the
        batch is budgeted as a whole, then the calls run at once; one failed call fails only
        its own item."""
        unknown = set(params) - {"requests"}
        if unknown:
            raise ProtocolViolation(f"complete_many: unknown parameters {sorted(unknown)}")
        requests = params.get("requests")
        if not isinstance(requests, list) or not 0 < len(requests) <= MAX_BATCH_CALLS:
            raise ProtocolViolation(
                f"complete_many: requests must be a list of 1..{MAX_BATCH_CALLS} items")
        cleans = []
        for i, item in enumerate(requests):
            if not isinstance(item, dict):
                raise ProtocolViolation(f"complete_many: requests[{i}] must be an object")
            try:
                cleans.append(validate_complete(item, self.limits.max_message_bytes))
            except ProtocolViolation as e:
                raise ProtocolViolation(f"complete_many: requests[{i}]: {e}") from None
        refused = self._refusal(len(cleans))
        if refused is not None:
            return refused
        self.calls += len(cleans)
        # gather starts the calls in item order, so a handler that numbers repeated requests
        # (the cache's attempt index) numbers them as a loop of `complete` calls would.
        return {"result": list(await asyncio.gather(*(self._call(c) for c in cleans)))}

    async def _call(self, clean: dict) -> dict:
        """One validated, budgeted completion: {"result": {...}} or {"error": "..."}."""
        assert self.handler is not None
        try:
            result = await self.handler("complete", clean)
        except Exception as e:  # noqa: BLE001 - the guest sees the failure and may go on
            return {"error": f"LLM call failed: {type(e).__name__}: {e}"}
        text = _field(result, "text", "content")
        if not isinstance(text, str):
            return {"error": "the LLM handler returned no text"}
        self.tokens_in += int(_field(result, "tokens_in") or 0)
        self.tokens_out += int(_field(result, "tokens_out") or 0)
        return {"result": {"text": text, "finish_reason": _field(result, "finish_reason"),
                           "tokens_in": _field(result, "tokens_in"),
                           "tokens_out": _field(result, "tokens_out")}}

    async def _run_python(self, params: dict) -> dict:
        if not isinstance(params.get("code"), str):
            raise ProtocolViolation("run_python: code must be a string")
        unknown = set(params) - {"code", "entry", "inputs", "timeout"}
        if unknown:
            raise ProtocolViolation(f"run_python: unknown parameters {sorted(unknown)}")
        if self.nested is None:
            return {"error": "run_python is not available in this run"}
        if self.nested_runs >= self.limits.max_nested_runs:
            return self._budget_error(
                "nested_runs", f"run_python budget spent ({self.limits.max_nested_runs} runs)")
        self.nested_runs += 1
        return {"result": await self.nested(params)}
