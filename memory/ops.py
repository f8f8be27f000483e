"""Curation operations (add, update, merge, archive, noop) and the rules that reject them.

The curator never rewrites the sheet; it proposes operations on entry ids. Each is checked
against the current sheet here; a rejected operation is recorded with its reason and leaves the
sheet unchanged. The rules exist because a rewriting curator loses content: in Dynamic
Cheatsheet's published runs, placeholders such as "[previous content preserved]" replaced real
entries in 41 of 133 sheets.
"""
from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from crib.memory.models import Kind, MemoryEntry


class AddOp(BaseModel):
    op: Literal["add"] = "add"
    kind: Kind = "strategy"
    title: str
    body: str
    tags: list[str] = Field(default_factory=list)


class UpdateOp(BaseModel):
    op: Literal["update"] = "update"
    id: str
    body: str | None = None
    title: str | None = None
    kind: Kind | None = None
    tags: list[str] | None = None


class MergeOp(BaseModel):
    op: Literal["merge"] = "merge"
    ids: list[str]
    title: str
    body: str
    kind: Kind | None = None
    tags: list[str] = Field(default_factory=list)


class ArchiveOp(BaseModel):
    op: Literal["archive"] = "archive"
    id: str
    reason: str = ""


class NoopOp(BaseModel):
    op: Literal["noop"] = "noop"
    reason: str = ""


Operation = Annotated[Union[AddOp, UpdateOp, MergeOp, ArchiveOp, NoopOp], Field(discriminator="op")]
_OPERATION = TypeAdapter(Operation)


class Rejection(BaseModel):
    op: dict[str, Any] | str
    reason: str


class CurationPolicy(BaseModel):
    max_body_chars: int = 4000
    max_title_chars: int = 200
    # An operation set may archive at most this fraction of the active sheet (at least one).
    max_archive_fraction: float = 0.3
    # Small models loop and emit the same operation dozens of times: cap the set.
    max_ops: int = 6
    gating: bool = True


class MalformedOutput(ValueError):
    """The curator's reply held no JSON operations at all."""


# Text a rewriting model leaves where it dropped content. Matched case-insensitively.
_PLACEHOLDER_PATTERNS = [
    r"\[[^\]\n]{0,60}\b(preserved|unchanged|omitted|retained|truncated|as before|same as)\b"
    r"[^\]\n]{0,60}\]",
    r"\((?:[^)\n]{0,40}\b)?(unchanged|omitted for brevity|content preserved|as before)\b"
    r"[^)\n]{0,40}\)",
    r"\b(rest|remainder|remaining|previous|prior|existing|other|earlier|original) "
    r"(of the )?(content|entries|sections?|text|code|items|strategies|notes|cheatsheet|sheet)\b"
    r"[\w\s]{0,20}\b(unchanged|preserved|omitted|as before)\b",
    r"\b(rest|remainder) (is |remains |stays )?(unchanged|the same|as before)\b",
    r"\b(content|entries|text|code|sections?) (is |are )?(preserved|unchanged|omitted)\b",
    r"\bsame as (above|before)\b",
    r"\bomitted for brevity\b",
    r"^\s*(#|//|--)?\s*(\.\.\.|…)\s*$",  # a line that is only an ellipsis
    r"\[\s*(\.\.\.|…)\s*\]",
]
_PLACEHOLDER_RES = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in _PLACEHOLDER_PATTERNS]


def find_placeholder(text: str | None) -> str | None:
    """The placeholder-like fragment in `text`, or None. A bare ellipsis line counts: in a
    cheatsheet it almost always stands for dropped content, so code must spell bodies out."""
    if not text:
        return None
    for pattern in _PLACEHOLDER_RES:
        m = pattern.search(text)
        if m:
            return m.group(0).strip()
    return None


def parse_operations(raw: str) -> tuple[list[Any], list[Rejection]]:
    """Operations from a model reply: a JSON object {"operations": [...]}, a bare list, or one
    operation object, optionally inside a ```json fence or surrounded by prose. Items that do
    not validate are returned as rejections. Raises MalformedOutput when no JSON is found."""
    data = _extract_json(raw)
    if isinstance(data, dict) and "operations" in data:
        items = data["operations"]
    elif isinstance(data, dict) and "op" in data:
        items = [data]
    else:
        items = data
    if not isinstance(items, list):
        raise MalformedOutput("expected a JSON list of operations or {\"operations\": [...]}")
    ops: list[Any] = []
    rejected: list[Rejection] = []
    for i, item in enumerate(items):
        try:
            ops.append(_OPERATION.validate_python(item))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'op'}: {e['msg']}"
                                 for e in exc.errors())
            rejected.append(Rejection(op=item if isinstance(item, dict) else str(item),
                                      reason=f"operation {i} is invalid: {problems}"))
    return ops, rejected


def _extract_json(raw: str) -> Any:
    text = raw.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    candidates = [fence.group(1)] if fence else []
    candidates.append(text)
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            pass
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):  # the first parseable object or list inside prose
        if ch in "{[":
            try:
                return decoder.raw_decode(text, i)[0]
            except json.JSONDecodeError:
                continue
    raise MalformedOutput(f"no JSON found in the curator reply ({len(raw)} chars): {raw[:200]!r}")


def validate_ops(
    ops: list[Any], entries: dict[str, MemoryEntry], policy: CurationPolicy,
    seen_versions: dict[str, int] | None = None,
) -> tuple[list[Any], list[Rejection]]:
    """Split `ops` into the ones that may be applied to `entries` (the scope's current sheet)
    and rejections with reasons. A set that archives too much is rejected as a whole.
    `seen_versions` are the entry versions the curator was shown: an operation on an entry that
    another writer changed since is rejected rather than allowed to overwrite that change."""
    accepted: list[Any] = []
    rejected: list[Rejection] = []
    touched: set[str] = set()
    texts = {text_key(e.title, e.body): e.id for e in entries.values() if e.status != "archived"}
    for i, op in enumerate(ops):
        if i >= policy.max_ops:
            rejected.append(Rejection(op=op.model_dump(),
                                      reason=f"more than {policy.max_ops} operations in one set"))
            continue
        reason = _check(op, entries, policy, touched) or _stale(op, entries, seen_versions or {})
        if not reason and isinstance(op, AddOp):
            key = text_key(op.title, op.body)
            if key in texts:
                reason = (f"duplicate of entry {texts[key]!r}" if texts[key]
                          else "duplicate of an earlier add in this set")
            texts.setdefault(key, "")
        if reason:
            rejected.append(Rejection(op=op.model_dump(), reason=reason))
            continue
        accepted.append(op)
        touched.update(_ids(op))

    active = sum(1 for e in entries.values() if e.status == "active")
    removed = sum(1 for op in accepted if isinstance(op, ArchiveOp))
    removed += sum(len(op.ids) - 1 for op in accepted if isinstance(op, MergeOp))
    allowed = max(1, int(policy.max_archive_fraction * active))
    if removed > allowed:
        reason = (f"operation set would remove {removed} of {active} active entries; at most "
                  f"{allowed} ({policy.max_archive_fraction:.0%}) may go at once")
        rejected.extend(Rejection(op=op.model_dump(), reason=reason) for op in accepted)
        accepted = []
    return accepted, rejected


def text_key(title: str, body: str) -> tuple[str, str]:
    return (" ".join(title.lower().split()), " ".join(body.lower().split()))


def _stale(op: Any, entries: dict[str, MemoryEntry], seen: dict[str, int]) -> str | None:
    for ident in _ids(op):
        if ident in seen and entries[ident].version != seen[ident]:
            return (f"entry {ident!r} changed since the curator saw it (version {seen[ident]} -> "
                    f"{entries[ident].version}); not overwriting another writer's change")
    return None


def _ids(op: Any) -> list[str]:
    if isinstance(op, MergeOp):
        return list(op.ids)
    return [op.id] if hasattr(op, "id") else []


def _check(op: Any, entries: dict[str, MemoryEntry], policy: CurationPolicy,
           touched: set[str]) -> str | None:
    if isinstance(op, NoopOp):
        return None
    if getattr(op, "kind", None) == "skill":  # a skill is code that passed Crib's own tests
        return "the curator cannot write skills; Crib captures them from verified code"
    for ident in _ids(op):
        entry = entries.get(ident)
        if entry is None:
            return f"unknown entry id {ident!r} in this scope"
        if entry.kind == "skill":
            return f"entry {ident!r} is a skill; only Crib's tests change skills"
        if entry.status == "archived":
            return f"entry {ident!r} is archived"
        if ident in touched:
            return f"entry {ident!r} is already changed by an earlier operation in this set"
    if isinstance(op, MergeOp) and len(set(op.ids)) < 2:
        return "merge needs at least two distinct ids"
    if isinstance(op, UpdateOp) and all(v is None for v in (op.body, op.title, op.kind, op.tags)):
        return "update changes nothing"
    for field in ("title", "body"):
        value = getattr(op, field, None)
        if value is None:
            continue
        found = find_placeholder(value)
        if found:
            return f"{field} holds placeholder text {found!r}; write the content out in full"
        if not value.strip():
            return f"{field} is empty"
    body = getattr(op, "body", None)
    if body is not None and len(body) > policy.max_body_chars:
        return f"body has {len(body)} characters; the limit is {policy.max_body_chars}"
    title = getattr(op, "title", None)
    if title is not None and len(title) > policy.max_title_chars:
        return f"title has {len(title)} characters; the limit is {policy.max_title_chars}"
    return None
