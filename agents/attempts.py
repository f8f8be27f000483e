"""One attempt: one run of one agent on one problem in the sandbox, its spend and its record.

The agent's model calls leave the sandbox as RPC `complete` requests; `ModelBridge` forwards
them to the shared `LLM` with this attempt's cache index and ids, and counts what they cost.
Everything that can go wrong in an attempt (agent crash, sandbox limit, malformed reply,
endpoint error, the problem's own budget) ends up as the attempt's `error` text; only a
run-wide `BudgetExceeded` escapes, so the run stops cleanly.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import Field
from sqlalchemy import Connection, Engine, bindparam, delete

from crib.agents.llm.completion import Spend  # light modules, not the lazy package
from crib.agents.llm.errors import BudgetExceeded
from crib.agents.prompt_sheet import PromptSheet
from crib.agents.records import AttemptRow
from crib.agents.verdict import Verdict

if TYPE_CHECKING:
    from crib.agents.llm import LLM

# Cache index of a model call = attempt * SAMPLE_STRIDE + how often this very request was
# already made in the attempt: CoT-SC's n identical calls at temperature > 0 are n samples,
# best-of-n attempts are distinct samples, and a rerun replays exactly the same ones.
SAMPLE_STRIDE = 1000
MAX_RAW_CHARS = 20_000
ALLOWED_ROLES = ("solver", "judge")  # an agent may not spend the curator's or meta model


class ProblemBudgetSpent(RuntimeError):
    """The per-problem call/token budget of the loop policy is used up."""


class Usage(Spend):
    """What an attempt (or a whole problem) spent."""

    wall_ms: float = 0.0


class Attempt(Usage):
    id: str
    run_id: str | None = None
    problem_id: str
    agent_name: str
    agent_hash: str
    policy: str
    index: int
    answer: Any = None
    raw_output: str | None = None
    passed: bool | None = None
    score: float | None = None  # the verifiers' combined score (not the gold score)
    verdicts: list[Verdict] = Field(default_factory=list)
    feedback_in: str | None = None
    error: str | None = None
    limit_hit: str | None = None
    cheatsheet_version: str | None = None
    memory_entry_ids: list[str] = Field(default_factory=list)  # entries that were in a prompt
    # The attempt's run_python snippets {code, ok, stdout, error}: skill capture reads them
    # (agents/skills.py); kept out of the stored records.
    snippets: list[dict[str, Any]] = Field(default_factory=list, exclude=True)


def attempt_id(run_id: str | None, problem_id: str, code_hash: str, policy: str, index: int) -> str:
    key = hashlib.sha256(f"{problem_id}\0{code_hash}\0{policy}".encode()).hexdigest()[:16]
    return f"{run_id or '-'}:{key}:{index}"


class ModelBridge:
    """The RPC handler for one attempt: guest `complete` requests -> `llm.complete`, with the
    attempt's sheet placed in its solver calls (`agents/prompt_sheet.py`)."""

    def __init__(self, llm: LLM, *, run_id: str | None, attempt_id: str, index: int,
                 problem_spend: Spend, max_calls: int | None, max_tokens: int | None,
                 default_temperature: float | None = None, sheet: PromptSheet | None = None):
        self.llm = llm
        self.run_id = run_id
        self.attempt_id = attempt_id
        self.index = index
        self.spend = Spend()
        self.problem_spend = problem_spend  # shared by the problem's attempts
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.default_temperature = default_temperature
        self.sheet = sheet or PromptSheet()
        self.errors: list[str] = []
        self.budget_error: BaseException | None = None
        self._seen: Counter[str] = Counter()
        self._in_flight = 0  # calls started, not back: a guest's batch runs its calls at once

    def _check_budget(self) -> None:
        used = self.problem_spend.calls + self.spend.calls + self._in_flight
        tokens = (self.problem_spend.tokens_in + self.problem_spend.tokens_out
                  + self.spend.tokens_in + self.spend.tokens_out)
        if self.max_calls is not None and used >= self.max_calls:
            raise ProblemBudgetSpent(f"problem budget spent: {used} of {self.max_calls} calls")
        if self.max_tokens is not None and tokens >= self.max_tokens:
            raise ProblemBudgetSpent(f"problem budget spent: {tokens} of {self.max_tokens} tokens")

    async def __call__(self, method: str, params: dict) -> dict:
        if method != "complete":
            raise ValueError(f"unknown RPC method {method!r}")
        try:
            self._check_budget()
        except ProblemBudgetSpent as exc:
            self.errors.append(str(exc))
            raise
        messages = params.get("messages")
        if not isinstance(messages, list):
            raise ValueError(f"complete: 'messages' must be a list of messages, "
                             f"not {type(messages).__name__}")
        role = params.get("role") or "solver"
        role = role if role in ALLOWED_ROLES else "solver"
        messages = self.sheet.place(messages, role)
        sampling = {k: params.get(k) for k in ("temperature", "max_tokens", "stop", "seed",
                                                "response_format")}
        if isinstance(sampling["stop"], str):
            sampling["stop"] = [sampling["stop"]]
        if sampling["temperature"] is None:
            sampling["temperature"] = self.default_temperature
        request = json.dumps([role, messages, sampling], sort_keys=True, default=str)
        repeat = self._seen[request]
        self._seen[request] += 1
        self._in_flight += 1
        try:
            c = await self.llm.complete(
                messages, role=role, attempt=self.index * SAMPLE_STRIDE + repeat,
                run_id=self.run_id, attempt_id=self.attempt_id, **sampling)
        except BudgetExceeded as exc:
            self.budget_error = exc
            raise
        except Exception as exc:
            self.errors.append(f"model call failed ({role}): {type(exc).__name__}: {exc}")
            raise
        finally:
            self._in_flight -= 1
        self.spend.calls += 1
        self.spend.cached_calls += int(bool(getattr(c, "cached", False)))
        self.spend.tokens_in += int(c.tokens_in or 0)
        self.spend.tokens_out += int(c.tokens_out or 0)
        self.spend.cost_usd += float(getattr(c, "cost_usd", 0.0) or 0.0)
        return {"text": c.text, "tokens_in": c.tokens_in, "tokens_out": c.tokens_out,
                "finish_reason": getattr(c, "finish_reason", None)}


def output_text(value: Any) -> str:
    """The agent's return value as the text `domain.extract` reads."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]  # an ADAS Info that crossed the boundary as a dict
    return json.dumps(value, ensure_ascii=False, default=str)


def sandbox_error(result: Any, bridge: ModelBridge) -> str | None:
    """A clear message for a failed agent run, or None when it succeeded."""
    if getattr(result, "ok", False):
        return None
    parts = []
    limit = getattr(result, "limit_hit", None)
    if limit:
        parts.append(f"sandbox limit hit: {limit}")
    err = getattr(result, "error", None) or ""
    stderr = (getattr(result, "stderr", None) or "").strip()
    if err:
        parts.append(f"agent failed: {err}")
    elif stderr:
        parts.append(f"agent failed: {stderr[-800:]}")
    elif not limit:
        parts.append(f"agent failed with exit code {getattr(result, 'exit_code', '?')}")
    parts.extend(bridge.errors)
    return "; ".join(dict.fromkeys(parts))


def clock_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def save_attempts(engine: Engine | Connection, attempts: list[Attempt],
                  replace: bool = True) -> None:
    """Write a problem's attempts in one transaction (`engine` may also be a Connection: then
    in its transaction), replacing an earlier try of the same
    problem by the same agent and policy in the same run (a resumed run counts nothing twice;
    `replace=False` when the run cannot hold one: see agents.runs.result_write).
    Core statements, built once: the ORM costs several ms of CPU per problem."""
    if engine is None or not attempts:
        return
    delete_stmt = _DELETE_ATTEMPTS if replace else None
    first = attempts[0]
    prefix = first.id.rsplit(":", 1)[0] + ":"
    now = datetime.now(timezone.utc)
    rows = [{
        "id": a.id, "run_id": a.run_id, "problem_id": a.problem_id, "agent_name": a.agent_name,
        "agent_hash": a.agent_hash, "policy": a.policy, "attempt_index": a.index,
        "answer": a.answer, "raw_output": (a.raw_output or "")[:MAX_RAW_CHARS],
        "passed": a.passed, "verdicts": [v.model_dump() for v in a.verdicts],
        "feedback_in": a.feedback_in, "calls": a.calls, "cached_calls": a.cached_calls,
        "tokens_in": a.tokens_in, "tokens_out": a.tokens_out, "cost_usd": a.cost_usd,
        "wall_ms": a.wall_ms, "error": a.error, "cheatsheet_version": a.cheatsheet_version,
        "memory_entry_ids": list(a.memory_entry_ids), "created_at": now} for a in attempts]
    if isinstance(engine, Connection):  # inside the caller's transaction (crib: with the result)
        _write(engine, delete_stmt, _ATTEMPTS, first, prefix, rows)
    else:
        with engine.begin() as conn:
            _write(conn, delete_stmt, _ATTEMPTS, first, prefix, rows)


def _write(conn: Any, delete_stmt: Any, table: Any, first: Attempt, prefix: str,
           rows: list[dict]) -> None:
    if delete_stmt is not None:
        conn.execute(delete_stmt, {"problem": first.problem_id,
                                   "prefix": _like_escape(prefix) + "%"})
    if rows:
        conn.execute(table.insert(), rows)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Delete earlier tries of a problem's attempts; the problem_id term lets the database use its
# index instead of scanning every attempt for the id prefix.
_DELETE_ATTEMPTS = delete(AttemptRow).where(
    AttemptRow.problem_id == bindparam("problem"),
    AttemptRow.id.like(bindparam("prefix"), escape="\\"))
_ATTEMPTS: Any = AttemptRow.__table__
