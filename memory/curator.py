"""The curator: asks a model for operations on the cheatsheet after each problem.

It sees the problem, the answer, the verifier's verdict and the relevant entries with their ids,
and answers with JSON operations (add, update, merge, archive, noop). It never rewrites the
sheet: the Dynamic Cheatsheet curator did, and lost content to placeholders. The model comes in
as a `complete` callable (messages -> text), so this layer does not import the LLM client.
The store validates the operations against the current sheet when it applies them.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping

from pydantic import BaseModel, Field

from crib.memory.models import MemoryEntry, VerdictLike, verdict_passed
from crib.memory.ops import MalformedOutput, Rejection, parse_operations

Complete = Callable[[list[dict]], Awaitable[str]]

CURATOR_SYSTEM = """\
You curate a cheatsheet: a small set of reusable entries (strategies, code snippets, pitfalls, \
facts) that help solve future problems of the same kind. After each problem you propose a few \
precise edits as JSON operations. You never rewrite the whole cheatsheet.

What makes a good entry (after Dynamic Cheatsheet):
- General and reusable: a method, a working code snippet, a check that catches a mistake, a \
fact that was needed. Not the specific answer to this one problem.
- Short and complete: write every entry in full. Never use placeholders such as "...", \
"[previous content preserved]" or "[rest unchanged]"; they are rejected.
- Code that solved a problem is valuable: store it whole, as runnable Python.
- Verified answers teach strategies; failed answers teach pitfalls.
- Prefer updating or merging an existing entry over adding a near-duplicate. Archive only \
entries that are wrong or fully superseded. If nothing new was learned, answer noop.

Operations (reply with one JSON object and nothing else):
{"operations": [
  {"op": "add", "kind": "strategy|code|pitfall|fact", "title": "...", "body": "...", \
"tags": ["..."]},
  {"op": "update", "id": "<existing id>", "title": "... (optional)", "body": "<complete new body>"},
  {"op": "merge", "ids": ["<id>", "<id>"], "title": "...", "body": "<complete merged body>"},
  {"op": "archive", "id": "<existing id>", "reason": "..."},
  {"op": "noop", "reason": "..."}
]}
Use only ids shown in the cheatsheet excerpt. At most 3 operations."""


def describe_verdict(verdict: VerdictLike, feedback: str | None = None) -> str:
    passed = verdict_passed(verdict)
    text = {True: "PASSED verification", False: "FAILED verification",
            None: "NOT VERIFIED (no checker)"}[passed]
    fb = (feedback or getattr(verdict, "feedback", None)
          or (verdict.get("feedback") if isinstance(verdict, Mapping) else None))
    return f"{text}\nFeedback: {fb}" if fb else text


def format_entries_for_curator(entries: list[MemoryEntry]) -> str:
    if not entries:
        return "(the cheatsheet is empty)"
    blocks = []
    for e in entries:
        stats = f"used {e.used}, helped {e.helped}, hurt {e.hurt}"
        status = "" if e.status == "active" else f", {e.status}"
        blocks.append(f"[{e.id}] ({e.kind}{status}; {stats}) {e.title}\n{e.body.strip()}")
    return "\n\n".join(blocks)


def build_curator_messages(problem: str, answer: str, verdict: VerdictLike,
                           entries: list[MemoryEntry], feedback: str | None = None,
                           max_answer_chars: int = 6000) -> list[dict]:
    if len(answer) > max_answer_chars:  # keep the end: that is where the final answer sits
        answer = "[start of a long answer cut]\n" + answer[-max_answer_chars:]
    user = (f"## Problem\n{problem.strip()}\n\n## Answer given\n{answer.strip()}\n\n"
            f"## Verification\n{describe_verdict(verdict, feedback)}\n\n"
            f"## Relevant cheatsheet entries\n{format_entries_for_curator(entries)}\n\n"
            "Propose your operations as JSON.")
    return [{"role": "system", "content": CURATOR_SYSTEM}, {"role": "user", "content": user}]


class Proposal(BaseModel):
    """The curator's reply, parsed: operations that passed the schema, items that did not, and
    `malformed` when the reply held no JSON at all (the sheet is then left alone)."""

    ops: list[Any] = Field(default_factory=list)
    rejected: list[Rejection] = Field(default_factory=list)
    raw: str = ""
    malformed: str | None = None


async def curate(complete: Complete, problem: str, answer: str, verdict: VerdictLike,
                 relevant_entries: list[MemoryEntry], feedback: str | None = None) -> Proposal:
    """Ask the curator model for operations; schema-check them (the store checks ids, text and
    limits against the current sheet when it applies them)."""
    raw = await complete(build_curator_messages(problem, answer, verdict, relevant_entries,
                                                feedback))
    try:
        ops, rejected = parse_operations(raw)
    except MalformedOutput as exc:
        return Proposal(raw=raw, malformed=str(exc))
    return Proposal(ops=ops, rejected=rejected, raw=raw)
