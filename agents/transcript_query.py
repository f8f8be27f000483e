"""Reading, measuring and pruning transcripts (see agents/transcripts.py for what they hold).

- `attempt_events(engine, attempt_id)`: an attempt's events in order, texts filled in;
- `last_attempt_trace(engine, ...)`: what an agent's last attempt at a problem did, in a few
  lines (a search designer reads it beside a failed answer);
- `passed_reply(engine, ...)`: the last reply of an attempt that passed (a search's solved
  example);
- `transcript_stats(engine)`: how much the transcripts take (`crib runs stats`);
- `prune(engine, before)`: drop events older than a time and the texts no event refers to
  any more (`crib runs gc`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from sqlalchemy import Engine, delete, func, select

from crib.agents.records import AttemptRow
from crib.agents.transcripts import KINDS, TranscriptEventRow, TranscriptTextRow
from crib.agents.verify.base import clip

# Which fields of an event's data are text hashes (a call's messages are a list of them).
TEXT_FIELDS = {
    "call": ("reply", "error"),
    "sandbox": ("code", "input", "stdout", "stderr", "result", "error"),
    "verdict": ("feedback",),
    "memory": ("cheatsheet",),
}
MISSING = "[text missing: pruned or not yet written]"
_CHUNK = 500


def text_refs(kind: str, data: dict) -> list[str]:
    """Every text hash one event refers to."""
    refs = [data.get(name) for name in TEXT_FIELDS.get(kind, ())]
    if kind == "call":
        refs += [m.get("text") for m in data.get("messages") or []]
    return [r for r in refs if isinstance(r, str)]


def texts(engine: Engine, hashes: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(hashes))
    found: dict[str, str] = {}
    with engine.connect() as conn:
        for i in range(0, len(wanted), _CHUNK):
            rows = conn.execute(select(TranscriptTextRow.hash, TranscriptTextRow.text)
                                .where(TranscriptTextRow.hash.in_(wanted[i:i + _CHUNK])))
            found.update({h: t for h, t in rows})
    return found


def _filled(kind: str, data: dict, found: dict[str, str]) -> dict:
    out = dict(data)
    for name in TEXT_FIELDS.get(kind, ()):
        if out.get(name) is not None:
            out[name] = found.get(out[name], MISSING)
    if kind == "call":
        out["messages"] = [{"role": m.get("role", ""), "content": found.get(m.get("text"), MISSING)
                            if m.get("text") is not None else ""}
                           for m in data.get("messages") or []]
    return out


def events(engine: Engine, *, attempt_id: str | None = None, run_id: str | None = None,
           kinds: Iterable[str] = KINDS, limit: int = 5000) -> list[dict]:
    """Events (oldest first) of an attempt or of a run's calls outside attempts (attempt_id
    None with a run_id: e.g. a chat's or a meta-agent's calls), with their texts."""
    t = TranscriptEventRow
    query = select(t.id, t.run_id, t.attempt_id, t.kind, t.data, t.created_at).where(
        t.kind.in_(list(kinds)))
    if attempt_id is not None:
        query = query.where(t.attempt_id == attempt_id)
    else:
        query = query.where(t.run_id == run_id, t.attempt_id.is_(None))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(t.id).limit(limit)).all()
    found = texts(engine, (h for r in rows for h in text_refs(r.kind, r.data or {})))
    return [{"id": r.id, "run_id": r.run_id, "attempt_id": r.attempt_id, "kind": r.kind,
             "created_at": r.created_at, **_filled(r.kind, r.data or {}, found)} for r in rows]


def attempt_events(engine: Engine, attempt_id: str) -> list[dict]:
    return events(engine, attempt_id=attempt_id)


TRACE_CODE_CHARS = 900  # the head of a program: where the approach is set up
TRACE_OUTPUT_CHARS = 300


def last_attempt_trace(engine: Engine, *, run_id: str, problem_id: str,
                       agent_hash: str) -> str | None:
    """What the agent's last attempt at the problem did: the last program it ran in the
    sandbox and what that printed or how it failed, or else the end of its last model reply.
    None when nothing was recorded (transcripts off, or the attempt never got that far)."""
    with engine.connect() as conn:
        attempt = conn.execute(select(AttemptRow.id).where(
            AttemptRow.run_id == run_id, AttemptRow.problem_id == problem_id,
            AttemptRow.agent_hash == agent_hash)
            .order_by(AttemptRow.attempt_index.desc()).limit(1)).scalar()
    if attempt is None:
        return None
    done = events(engine, attempt_id=attempt, kinds=("sandbox", "call"))
    programs = [e for e in done if e["kind"] == "sandbox" and e.get("tier") == "snippet"]
    if programs:
        last = programs[-1]
        code = clip(last.get("code") or "", TRACE_CODE_CHARS)
        failed = (last.get("error") or "").strip() or (
            "" if last.get("ok") else (last.get("stderr") or "").strip())
        said = (f"it failed: {_tail(failed, TRACE_OUTPUT_CHARS)}" if failed else
                f"it printed: {_tail(last.get('stdout') or '', TRACE_OUTPUT_CHARS) or '(nothing)'}")
        return f"the last program it ran:\n```python\n{code}\n```\n{said}"
    replies = [str(e["reply"]) for e in done if e["kind"] == "call" and e.get("reply")]
    if replies:
        return f"the end of its last reply: {_tail(replies[-1], 2 * TRACE_OUTPUT_CHARS)}"
    return None


def passed_reply(engine: Engine, *, run_id: str, problem_id: str, agent_hash: str) -> str | None:
    """The last model reply of the agent's latest attempt at the problem that passed its
    check (a search shows such replies as solved examples); None without one."""
    with engine.connect() as conn:
        attempt = conn.execute(select(AttemptRow.id).where(
            AttemptRow.run_id == run_id, AttemptRow.problem_id == problem_id,
            AttemptRow.agent_hash == agent_hash, AttemptRow.passed.is_(True))
            .order_by(AttemptRow.attempt_index.desc()).limit(1)).scalar()
    if attempt is None:
        return None
    replies = [str(e["reply"]) for e in events(engine, attempt_id=attempt, kinds=("call",))
               if e.get("reply")]
    return replies[-1] if replies else None


def _tail(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


@dataclass
class TranscriptStats:
    events: dict[str, int] = field(default_factory=dict)  # by kind
    texts: int = 0
    text_chars: int = 0  # what is stored
    referenced_chars: int = 0  # what the events refer to, counting every repeat
    runs: int = 0
    oldest: datetime | None = None
    newest: datetime | None = None
    database_bytes: int | None = None  # SQLite: the file (all tables, not transcripts only)

    @property
    def shared_ratio(self) -> float:
        """How many characters the events refer to per character stored (dedup gain)."""
        return self.referenced_chars / self.text_chars if self.text_chars else 1.0


def transcript_stats(engine: Engine) -> TranscriptStats:
    t, x = TranscriptEventRow, TranscriptTextRow
    stats = TranscriptStats()
    with engine.connect() as conn:
        stats.events = {k: n for k, n in conn.execute(
            select(t.kind, func.count()).group_by(t.kind))}
        stats.texts, stats.text_chars = conn.execute(
            select(func.count(), func.coalesce(func.sum(x.chars), 0))).one()
        stats.runs = conn.execute(select(func.count(func.distinct(t.run_id)))).scalar() or 0
        stats.oldest, stats.newest = conn.execute(
            select(func.min(t.created_at), func.max(t.created_at))).one()
        sizes = dict(conn.execute(select(x.hash, x.chars)).all())
        for kind, data in conn.execute(select(t.kind, t.data)):
            stats.referenced_chars += sum(sizes.get(h, 0) for h in text_refs(kind, data or {}))
        if engine.dialect.name == "sqlite":
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar() or 0
            size = conn.exec_driver_sql("PRAGMA page_size").scalar() or 0
            stats.database_bytes = pages * size
    return stats


@dataclass
class PruneResult:
    events: int
    texts: int


def prune(engine: Engine, before: datetime, run_id: str | None = None) -> PruneResult:
    """Delete events created before `before` (of `run_id` only, when given), then every text
    older than `before` that no remaining event refers to. One transaction: a crash leaves
    everything as it was."""
    t, x = TranscriptEventRow, TranscriptTextRow
    with engine.begin() as conn:
        doomed = delete(t).where(t.created_at < before)
        if run_id is not None:
            doomed = doomed.where(t.run_id == run_id)
        removed = conn.execute(doomed).rowcount or 0
        kept: set[str] = set()
        for kind, data in conn.execute(select(t.kind, t.data)):
            kept.update(text_refs(kind, data or {}))
        # Only texts older than `before` too: a running process may have just written a text
        # whose event is still on its way.
        orphans = [h for (h,) in conn.execute(select(x.hash).where(x.created_at < before))
                   if h not in kept]
        for i in range(0, len(orphans), _CHUNK):
            conn.execute(delete(x).where(x.hash.in_(orphans[i:i + _CHUNK])))
    return PruneResult(events=removed, texts=len(orphans))
