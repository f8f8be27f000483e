"""Reading an ADAS-format archive: a JSON list of objects with `name`, `thought`, `code`
(a string defining `forward(self, taskInfo)`), optionally `fitness` (ADAS writes a text such
as "95% Bootstrap Confidence Interval: (40.2%, 52.1%), Median: 46.1%") and `generation`.
Imported agents keep their code unchanged; they run only in the sandbox.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from crib.meta_search.archive import Archive, Entry


class ImportError_(ValueError):
    pass


class AdasAgent(BaseModel):
    name: str
    thought: str = ""
    code: str
    fitness: Any = None
    generation: Any = None


def read_adas_archive(path: str | Path) -> list[AdasAgent]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ImportError_(f"{p}: cannot read an ADAS archive: {exc}") from exc
    if not isinstance(data, list):
        raise ImportError_(f"{p}: expected a JSON list of agents, got {type(data).__name__}")
    agents = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("code"), str) or "name" not in item:
            raise ImportError_(f"{p}: item {i} needs at least a string `name` and `code`")
        agents.append(AdasAgent(**{k: item.get(k) for k in AdasAgent.model_fields if k in item}))
    return agents


def import_into(archive: Archive, agents: list[AdasAgent]) -> list[Entry]:
    """Add the agents as origin=import entries at generation 0 (slots after existing ones)."""
    taken = {e.slot for e in archive.entries() if e.generation == 0}
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
    first = (entry.thought.strip().splitlines() or [entry.name])[0].replace('"""', "'''")
    rest = entry.thought.strip().replace('"""', "'''")
    doc = f'"""{first}\n\n{rest}\n\nExported from crib search run {entry.run_id}, entry #{entry.id} ' \
          f'({entry.name}, generation {entry.generation}).\n"""\n'
    return doc + "\n" + entry.code.strip() + "\n"
