"""Transcripts: what was said in an attempt, recorded as events in SQL.

Four kinds of event, each linked to its run and (when there is one) its attempt (`attempts.id`):
- `call`: one model call: role, model, request messages and sampling parameters, reply, tokens,
  latency, cache hit, error (recorded through the LLM's `recorder=` seam);
- `sandbox`: one agent run in the sandbox: code, stdout, stderr, result, limit hit, exit code;
- `verdict`: one verifier's verdict and feedback;
- `memory`: the memory entries and the cheatsheet text an attempt's prompt carried.

Compact: every text (a message, a reply, code, output) is stored once in `transcript_texts`
under its sha256 and events refer to it by hash, so a system prompt or an agent's code repeated
in a thousand calls costs one row. Keys never get in: every text and parameter passes `redact`
(values of secret-looking environment variables, `sk-...` keys, bearer tokens) before it is
hashed. Writes go through one `SqlWriter` thread in group commits and never hold up the caller;
`flush()` waits for them (the CLI's wiring calls it before the engine is closed).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections import OrderedDict
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping, cast

from sqlalchemy import JSON, DateTime, Engine, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from crib.agents.llm.sql_writer import SqlWriter
from crib.agents.records import Base, utcnow

if TYPE_CHECKING:  # the sandbox package loads where a sandbox is started
    from crib.sandbox import RunResult, Sandbox
    from crib.sandbox.limits import Tier

MAX_TEXT_CHARS = 200_000  # one text at most (a runaway stdout is cut, and says so)
KINDS = ("call", "sandbox", "verdict", "memory")
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.I)
_SECRET_SHAPES = re.compile(r"\bsk-[A-Za-z0-9_\-]{12,}|(?i:bearer)\s+[A-Za-z0-9._\-~+/]{12,}=*")
_SECRET_PARAMS = re.compile(r"^(api_?key|authorization|(extra_|default_)?headers|"
                            r"(access_|auth_|api_)?token|secret|password)$", re.I)
REDACTED = "[redacted]"


class TranscriptTextRow(Base):
    """One distinct text, stored once (events refer to it by `hash`)."""

    __tablename__ = "transcript_texts"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    chars: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TranscriptEventRow(Base):
    """One event of a transcript; `data` holds its fields, texts as hashes (see `read`)."""

    __tablename__ = "transcript_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    attempt_id: Mapped[str | None] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                               index=True)  # `crib runs gc` prunes by age


def _secret_values() -> list[str]:
    """Values of this process's secret-looking environment variables (longest first)."""
    found = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= 8}
    return sorted(found, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every secret replaced by `[redacted]`."""
    for value in _secret_values() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, REDACTED)
    return _SECRET_SHAPES.sub(REDACTED, text)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _field(obj: Any, *names: str, default: Any = None) -> Any:
    """The first of `names` that `obj` (a mapping or an object) has."""
    for name in names:
        if isinstance(obj, Mapping):
            if name in obj:
                return obj[name]
        elif hasattr(obj, name):
            return getattr(obj, name)
    return default


class TranscriptStore:
    """Records transcript events (implements the LLM's `CallRecorder`: `record(call)`)."""

    def __init__(self, engine: Engine, writer: SqlWriter | None = None) -> None:
        self.engine = engine
        self.writer = writer if writer is not None else SqlWriter(engine)
        self._known: OrderedDict[str, None] = OrderedDict()  # hashes already written
        self._pending: set[Future] = set()
        self._texts: list[dict] = []  # rows waiting for the writer thread
        self._events: list[dict] = []
        self._scheduled = False  # a write that will take them is queued
        self._lock = threading.RLock()  # _done may run at once, in the submitting thread
        self._secrets = _secret_values()
        self._insert_text = _insert_ignore(engine)

    def share_writer(self, writer: SqlWriter | None) -> None:
        """Send writes through `writer` (the LLM's), so transcript rows ride in the same group
        commits as the ledger rows instead of contending for the database's write lock."""
        if writer is not None:
            self.flush()
            self.writer = writer

    # -- recording -------------------------------------------------------------------------
    def record(self, call: Any) -> None:
        """One model call (`crib.agents.llm.recorder.CallRecorder`; a `CallRecord`)."""
        messages = _field(call, "messages", "request_messages", default=[]) or []
        params = _field(call, "params", "request_params", "sampling", default={}) or {}
        extra = _field(call, "extra", default={}) or {}
        data = {
            "call": _field(call, "kind", default="complete"), "role": _field(call, "role"),
            "model": _field(call, "model"),
            "endpoint": redact(str(_field(call, "endpoint", default="")), self._secrets),
            "finish_reason": extra.get("finish_reason") if isinstance(extra, Mapping) else None,
            "messages": [{"role": str(m.get("role", "")), "text": self._text(m.get("content"))}
                         for m in messages if isinstance(m, Mapping)],
            "params": self._params(params),
            "reply": self._text(_field(call, "text", "reply", "reply_text")),
            "tokens_in": _field(call, "tokens_in", default=0),
            "tokens_out": _field(call, "tokens_out", default=0),
            "latency_ms": _field(call, "latency_ms", default=0.0),
            "cached": bool(_field(call, "cached", default=False)),
            "error": self._text(_field(call, "error")),
        }
        self._event(_field(call, "run_id"), _field(call, "attempt_id"), "call", data)

    def sandbox_run(self, run_id: str | None, attempt_id: str | None, *, code: str,
                    result: Any, tier: str = "agent", inputs: str | None = None) -> None:
        """One sandbox run and what came back (`result`: a `RunResult`, or None when the
        sandbox itself failed)."""
        value = _field(result, "value") if result is not None else None
        data = {"tier": tier, "code": self._text(code), "input": self._text(inputs),
                "stdout": self._text(_field(result, "stdout")),
                "stderr": self._text(_field(result, "stderr")),
                "result": self._text(value if isinstance(value, str) or value is None
                                     else json.dumps(value, ensure_ascii=False, default=str)),
                "ok": _field(result, "ok"), "exit_code": _field(result, "exit_code"),
                "error": self._text(_field(result, "error")),
                "limit_hit": _field(result, "limit_hit"), "wall_ms": _field(result, "wall_ms"),
                "cpu_ms": _field(result, "cpu_ms")}
        self._event(run_id, attempt_id, "sandbox", data)

    def recording(self, sandbox: Sandbox, run_id: str | None,
                  attempt_id: str | None) -> RecordingSandbox:
        """`sandbox`, with each `run` it makes recorded as this attempt's (a verifier's)."""
        return RecordingSandbox(sandbox, self, run_id, attempt_id)

    def verdicts(self, run_id: str | None, attempt_id: str | None, verdicts: Iterable[Any]) -> None:
        for v in verdicts:
            self._event(run_id, attempt_id, "verdict", {
                "verifier": _field(v, "verifier"), "passed": _field(v, "passed"),
                "score": _field(v, "score"), "feedback": self._text(_field(v, "feedback"))})

    def memory(self, run_id: str | None, attempt_id: str | None, *, entry_ids: list[str],
               cheatsheet: str, version: Any = None) -> None:
        self._event(run_id, attempt_id, "memory", {
            "entry_ids": list(entry_ids), "cheatsheet": self._text(cheatsheet),
            "version": None if version is None else str(version)})

    def flush(self, timeout: float | None = 60.0) -> None:
        """Wait until every event recorded so far is committed (errors are not raised: a
        transcript must never fail the work it describes)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            try:
                future.result(timeout)
            except Exception:  # noqa: BLE001 - see the docstring
                pass

    # -- plumbing --------------------------------------------------------------------------
    def _params(self, params: Mapping) -> dict:
        kept = {}
        for key, value in params.items():
            if _SECRET_PARAMS.search(str(key)):
                continue
            if isinstance(value, str):
                value = redact(value, self._secrets)
            kept[str(key)] = value
        return json.loads(redact(json.dumps(kept, default=str), self._secrets))

    def _text(self, text: Any) -> str | None:
        """The hash of `text` (queued for writing unless already known), None for no text."""
        if text is None:
            return None
        if not isinstance(text, str):
            text = json.dumps(text, ensure_ascii=False, default=str)
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS] + f"\n[... cut at {MAX_TEXT_CHARS} characters]"
        text = redact(text, self._secrets)
        digest = text_hash(text)
        with self._lock:
            if digest in self._known:
                self._known.move_to_end(digest)
                return digest
            self._known[digest] = None
            if len(self._known) > 50_000:
                self._known.popitem(last=False)
        self._queue("texts", {"hash": digest, "text": text, "chars": len(text),
                              "created_at": utcnow()})
        return digest

    def _event(self, run_id: str | None, attempt_id: str | None, kind: str, data: dict) -> None:
        self._queue("events", {"run_id": run_id, "attempt_id": attempt_id, "kind": kind,
                               "data": data, "created_at": utcnow()})

    def _queue(self, kind: Literal["texts", "events"], row: dict) -> None:
        """Buffer a row; one write at a time takes every row buffered by the time the writer
        thread runs it (a row each would cost a future and a statement per text and event)."""
        with self._lock:  # held over the submit, so flush() never misses a buffered row
            # The buffer is looked up under the lock: the writer thread swaps in new lists, and
            # a row appended to a list it has already written would be lost.
            (self._texts if kind == "texts" else self._events).append(row)
            if self._scheduled:
                return
            self._scheduled = True
            future = self.writer.submit(self._batch_write())
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _batch_write(self) -> Any:
        taken: list[tuple[list[dict], list[dict]]] = []

        def write(conn: Any) -> None:
            if not taken:  # the first run takes the buffers; a retry (alone) reuses them
                with self._lock:
                    taken.append((self._texts, self._events))
                    self._texts, self._events, self._scheduled = [], [], False
            texts, events = taken[0]
            if texts:
                conn.execute(self._insert_text, texts)
            if events:
                conn.execute(_EVENTS.insert(), events)
        return write

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)


class RecordingSandbox:
    """A sandbox whose `run` calls are recorded (the verifiers' snippet runs: hidden tests,
    executed answers); everything else is the sandbox's own."""

    def __init__(self, sandbox: Sandbox, store: TranscriptStore, run_id: str | None,
                 attempt_id: str | None) -> None:
        self._sandbox, self._store = sandbox, store
        self._run_id, self._attempt_id = run_id, attempt_id

    async def run(self, code: str, tier: Tier = "snippet", **kwargs: Any) -> RunResult:
        result = await self._sandbox.run(code, tier=tier, **kwargs)
        inputs = kwargs.get("inputs")
        self._store.sandbox_run(self._run_id, self._attempt_id, code=code, result=result,
                                tier=tier, inputs=None if inputs is None else json.dumps(
                                    inputs, ensure_ascii=False, default=str))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sandbox, name)


_EVENTS = cast(Table, TranscriptEventRow.__table__)
_TEXTS = cast(Table, TranscriptTextRow.__table__)


def _insert_ignore(engine: Engine | None) -> Any:
    """An insert of a text that does nothing when the hash is already there."""
    # The dialect modules load when first used (PostgreSQL's alone costs ≈0.1 s).
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    postgres = engine is not None and engine.dialect.name == "postgresql"
    insert: Any = pg_insert if postgres else sqlite_insert
    return insert(_TEXTS).on_conflict_do_nothing(index_elements=["hash"])
