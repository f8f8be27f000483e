"""The meta-agent's own memory (`--meta-memory`): a scope of design lessons (what worked, what
failed and why), curated after each generation with the memory layer's validated operations
(add/update/merge/archive, never a whole-sheet rewrite) and rendered into the next proposal
prompt. Lessons come from measured results, so they are not verdict-gated (gating=False).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from crib.memory.ops import MalformedOutput, parse_operations
from crib.meta_search.archive import Entry
from crib.meta_search.strategies import fitness_text

if TYPE_CHECKING:
    from crib.memory.store import MemoryStore

PROMPT = """You keep the design lessons of an agent-design search in domain "{domain}".
Generation {generation} produced these candidates (status, reason, fitness):
{results}

Current lessons (id: title - body):
{sheet}

Propose operations on the lessons as JSON {{"operations": [...]}} with items
{{"op": "add", "kind": "strategy"|"pitfall", "title": "...", "body": "..."}},
{{"op": "update", "id": "...", "body": "..."}}, {{"op": "archive", "id": "...", "reason": "..."}}
or {{"op": "noop", "reason": "..."}}. Keep lessons short, general and grounded in the results."""


class MetaLessons:
    def __init__(self, store: MemoryStore, scope: str,
                 complete: Callable[[list[dict]], Awaitable[str]],
                 domain: str, token_budget: int = 800, run_id: str | None = None):
        self.store, self.scope, self.complete = store, scope, complete
        self.domain, self.token_budget, self.run_id = domain, token_budget, run_id

    def render(self) -> str:
        sheet = self.store.render(self.scope, "", self.token_budget)
        return getattr(sheet, "text", sheet) or ""

    async def curate(self, generation: int, entries: list[Entry]) -> Any:
        results = "\n".join(
            f"- {e.name}: {e.status}; {e.reason or ''}; {fitness_text(e)}" for e in entries)
        current = self.store.entries(self.scope, status="active")
        sheet = "\n".join(f"{m.id}: {m.title} - {m.body}" for m in current) or "(none yet)"
        raw = await self.complete([{"role": "user", "content": PROMPT.format(
            domain=self.domain, generation=generation, results=results or "(none)",
            sheet=sheet)}])
        try:
            ops, rejected = parse_operations(raw)
        except MalformedOutput as exc:
            return {"status": "malformed", "error": str(exc), "raw": raw[:500]}
        result = self.store.apply(self.scope, ops, gating=False, prior_rejections=rejected,
                                  raw=raw, run_id=self.run_id)
        if hasattr(result, "model_dump_json"):
            return json.loads(result.model_dump_json())
        return result
