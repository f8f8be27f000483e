"""Reading an ADAS-format archive: a JSON list of objects with `name`, `thought`, `code`
(a string defining `forward(self, taskInfo)`), optionally `fitness` (ADAS writes a text such
as "95% Bootstrap Confidence Interval: (40.2%, 52.1%), Median: 46.1%") and `generation` (a
number, or "initial" for the seeds). Imported agents keep their code unchanged; they run only
in the sandbox.

What ADAS published is accepted as written: some entries' `thought` is a JSON object (its
sections, e.g. {"**Insights:**": ..., "**Implementation:**": ...}), rendered here as text.
Entries that cannot be used (no name, no code, code that does not parse) are skipped and
reported by index and reason; the others are imported.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from crib.meta_search.archive import Archive, Entry
from crib.meta_search.records import BASELINE


class ImportError_(ValueError):
    pass


class AdasAgent(BaseModel):
    name: str
    thought: str = ""
    code: str
    fitness: Any = None
    generation: Any = None


@dataclass(frozen=True)
class SkippedItem:  # not a NamedTuple: `index` would shadow tuple.index
    index: int
    reason: str


def thought_text(thought: Any) -> str:
    """ADAS's `thought` as text: a string as it is, an object as its sections in order."""
    if thought is None:
        return ""
    if isinstance(thought, str):
        return thought
    if isinstance(thought, dict):
        sections = (f"{key}\n{thought_text(value)}".strip() for key, value in thought.items())
        return "\n\n".join(sections)
    if isinstance(thought, list):
        return "\n\n".join(thought_text(item) for item in thought)
    return json.dumps(thought, ensure_ascii=False)


def _unusable(item: Any) -> str | None:
    """Why an archive item cannot be imported, or None."""
    if not isinstance(item, dict):
        return f"expected an object, got {type(item).__name__}"
    for key in ("name", "code"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            return f"needs a non-empty string `{key}`"
    try:
        ast.parse(item["code"])  # parsed only: imported code runs in the sandbox alone
    except SyntaxError as exc:
        return f"code has a syntax error on line {exc.lineno}: {exc.msg}"
    except ValueError as exc:
        return f"code cannot be parsed: {exc}"
    return None


def parse_adas_archive(path: str | Path) -> tuple[list[AdasAgent], list[SkippedItem]]:
    """The usable agents of an ADAS archive file, and the items skipped with their reasons.
    Raises ImportError_ when the file is unreadable, not a JSON list, or holds no usable agent."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ImportError_(f"{p}: not UTF-8 text (byte {exc.start}); an ADAS archive is "
                           "JSON") from exc
    except json.JSONDecodeError as exc:
        raise ImportError_(f"{p}: not JSON: {exc.msg} at line {exc.lineno}") from exc
    except OSError as exc:
        raise ImportError_(f"cannot read {p}: {exc.strerror or exc}") from exc
    if not isinstance(data, list):
        raise ImportError_(f"{p}: expected a JSON list of agents, got {type(data).__name__}")
    agents, skipped = [], []
    for i, item in enumerate(data):
        reason = _unusable(item)
        if reason is not None:
            skipped.append(SkippedItem(i, reason))
            continue
        agents.append(AdasAgent(name=item["name"], thought=thought_text(item.get("thought")),
                                code=item["code"], fitness=item.get("fitness"),
                                generation=item.get("generation")))
    if not agents:
        reasons = "; ".join(f"item {s.index}: {s.reason}" for s in skipped[:5])
        raise ImportError_(f"{p}: no usable agent"
                           + (f" ({reasons})" if reasons else " (an empty list)"))
    return agents, skipped


def read_adas_archive(path: str | Path) -> list[AdasAgent]:
    """The usable agents of an ADAS archive (see parse_adas_archive for the skipped ones)."""
    return parse_adas_archive(path)[0]


def import_into(archive: Archive, agents: list[AdasAgent]) -> list[Entry]:
    """Add the agents as origin=import entries at generation 0 (slots after existing ones)."""
    taken = {e.slot for e in archive.entries() if e.generation == 0 and e.origin != BASELINE}
    slot = max(taken, default=-1) + 1
    out = []
    for a in agents:
        note = {"step": "import", "adas_fitness": a.fitness, "adas_generation": a.generation}
        out.append(archive.add_entry(generation=0, slot=slot, origin="import", name=a.name,
                                     thought=a.thought or "", code=a.code, history=[note]))
        slot += 1
    return out


def export_code(entry: Entry) -> str:
    """A .py file `crib solve --agent FILE.py` runs: a docstring (the thought) then the code."""
    def docstring_safe(text: str) -> str:  # a backslash or three quotes would break the file
        return text.replace("\\", "\\\\").replace('"""', "'''")

    first = docstring_safe((entry.thought.strip().splitlines() or [entry.name])[0])
    rest = docstring_safe(entry.thought.strip())
    name = docstring_safe(entry.name)
    doc = (f'"""{first}\n\n{rest}\n\nExported from crib search run {entry.run_id}, '
           f'entry #{entry.id} ({name}, generation {entry.generation}).\n"""\n')
    return doc + "\n" + entry.code.strip() + "\n"
