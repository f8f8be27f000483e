"""Skills: entries of kind `skill`, each a Python function with a docstring that Crib tested.

The memory layer keeps a skill's code (the entry's body, versioned like any entry), its status
(quarantined = candidate, active = promoted and importable, archived = failed or demoted) and
its record: every test before promotion and every later use, with the checker's verdict, in
`memory_skill_trials`. Capture, testing and repair live in the agents layer
(agents/skills.py), which runs code in the sandbox; nothing here runs a skill.

The entry's title is the signature (`solve_game24(numbers)`): the function's name before the
parenthesis is what `from skills import NAME` imports inside the sandbox.
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crib.memory.models import MemoryEntry, Provenance
from crib.memory.records import SkillTrialRow

MAX_SKILL_CHARS = 4000  # the same limit as any entry's body
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A promoted skill is demoted (archived) once it has been used this often since its last
# change and its uses show, with one-sided 90% confidence (Wilson's score interval), that it
# passes less than this fraction of them. A plain share demoted on 1 of 4: the 1.5B model's
# first Game of 24 skill went so in a run's first puzzles, though it solved 39 of the 50 later
# ones (0 of 4 and 1 of 5 are still demoted; 1 of 4, 2 of 5 and 3 of 8 are not).
DEMOTE_MIN_USES = 4
DEMOTE_BELOW = 0.5
DEMOTE_Z = 1.2816  # one-sided 90%


class SkillError(ValueError):
    """The text is not a usable skill (says why)."""


@dataclass
class SkillRecord:
    tests_passed: int = 0
    tests: int = 0  # tests of the entry's current version
    uses_passed: int = 0
    uses: int = 0  # problems it was used on since the current version was promoted

    @property
    def standing(self) -> float | None:
        """Share of uses that passed (None before any use)."""
        return self.uses_passed / self.uses if self.uses else None

    @property
    def usefulness(self) -> float:
        """An entry's usefulness (memory/models.py) over the passed and failed uses."""
        return (2 * self.uses_passed - self.uses) / (self.uses + 2)

    def text(self) -> str:
        parts = [f"passed {self.tests_passed} of {self.tests} tests"]
        if self.uses:
            parts.append(f"used on {self.uses} problems, {self.uses_passed} passed")
        return "; ".join(parts)


@dataclass
class SkillSignature:
    name: str
    params: list[str]
    doc: str

    @property
    def title(self) -> str:
        return f"{self.name}({', '.join(self.params)})"


def parse_skill(code: str, name: str | None = None) -> SkillSignature:
    """The public function a skill's code defines (by `name`, else the first top-level def
    with a docstring). Only parses: model-written code never runs in the host."""
    if len(code) > MAX_SKILL_CHARS:
        raise SkillError(f"skill code has {len(code)} characters; the limit is {MAX_SKILL_CHARS}")
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise SkillError(f"skill code does not parse: {type(exc).__name__}: {exc}") from None
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
    if name is not None:
        defs = [n for n in defs if n.name == name]
    else:
        defs = [n for n in defs if ast.get_docstring(n)] or defs
    if not defs:
        what = f"function named {name!r}" if name else "public top-level function"
        raise SkillError(f"skill code defines no {what}")
    fn = defs[0]
    doc = ast.get_docstring(fn) or ""
    if not doc.strip():
        raise SkillError(f"skill function {fn.name!r} has no docstring")
    params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    return SkillSignature(fn.name, params, doc.strip())


def skill_name(entry: MemoryEntry) -> str:
    return entry.title.split("(", 1)[0].strip()


def skill_params(entry: MemoryEntry) -> list[str]:
    """The parameters named in the entry's title (its signature, written when it was made)."""
    inside = entry.title.partition("(")[2].rpartition(")")[0]
    return [p.strip() for p in inside.split(",") if p.strip()]


def skill_sources(entries: Iterable[MemoryEntry]) -> dict[str, str]:
    """{function name: code} of the active skills among `entries`: what the sandbox's
    `skills` module is made of."""
    return {skill_name(e): e.body for e in entries
            if e.kind == "skill" and e.status == "active" and NAME_RE.match(skill_name(e))}


def uses_skill(code: str, name: str) -> bool:
    """Whether snippet or agent `code` calls the skill `name` (a text check: the code is never
    run here). An import alone is not a use, and code that defines its own function of that
    name hides the skill: what it answers is not the skill's record (the 1.5B model imported
    a skill, then wrote its own of the same name, or of another, around a guess)."""
    return (re.search(rf"\b{re.escape(name)}\s*\(", code) is not None and "skills" in code
            and not defines_skill(code, name))


def defines_skill(code: str, name: str) -> bool:
    """Whether `code` defines a function called `name`, hiding the skill of that name."""
    return re.search(rf"^\s*def {re.escape(name)}\s*\(", code, re.MULTILINE) is not None


def skill_block(entry: MemoryEntry, record: SkillRecord | None) -> str:
    """How a skill is listed in the prompt: how to import it, its signature, docstring and
    record (its code stays out of the prompt: the sandbox has it)."""
    name = skill_name(entry)
    rec = f" — {record.text()}" if record is not None else ""
    return (f"### [{entry.id}] skill {entry.title}{rec}\n"
            f"`from skills import {name}` works in your Python code (run_python and agents).\n"
            f"{_docstring(entry.body, name)}\n")


def _docstring(code: str, name: str) -> str:
    try:
        return parse_skill(code, name).doc
    except SkillError:
        return "(its docstring could not be read)"


# ---- trials -----------------------------------------------------------------------------------

def record_trials(engine: Engine, entry: MemoryEntry, trial: str,
                  results: Sequence[tuple[str | None, bool, str | None]],
                  run_id: str | None = None) -> None:
    """Record (problem id, passed, detail) results of `entry` at its current version."""
    if trial not in ("test", "use"):
        raise ValueError(f"trial must be test or use, not {trial!r}")
    with Session(engine) as s, s.begin():
        for problem_id, passed, detail in results:
            s.add(SkillTrialRow(scope=entry.scope, entry_id=entry.id, entry_version=entry.version,
                                trial=trial, problem_id=problem_id, passed=bool(passed),
                                detail=(detail or "")[:2000] or None, run_id=run_id))


def skill_records(engine: Engine, entries: Iterable[MemoryEntry]) -> dict[str, SkillRecord]:
    """Each skill's record: the tests of its latest tested code (a repair is tested anew;
    promotion and pins are later versions of the same code) and the uses since then."""
    ids = [e.id for e in entries if e.kind == "skill"]
    records = {i: SkillRecord() for i in ids}
    if not ids:
        return records
    with Session(engine) as s:
        rows = s.execute(select(SkillTrialRow.entry_id, SkillTrialRow.entry_version,
                                SkillTrialRow.trial, SkillTrialRow.passed)
                         .where(SkillTrialRow.entry_id.in_(ids))).all()
    tested: dict[str, int] = {}
    for entry_id, version, trial, _ in rows:
        if trial == "test":
            tested[entry_id] = max(tested.get(entry_id, 0), version)
    for entry_id, version, trial, passed in rows:
        rec, since = records[entry_id], tested.get(entry_id, 0)
        if trial == "test" and version == since:
            rec.tests += 1
            rec.tests_passed += int(passed)
        elif trial == "use" and version >= since:
            rec.uses += 1
            rec.uses_passed += int(passed)
    return records


def trials(engine: Engine, entry_id: str) -> list[dict[str, Any]]:
    with Session(engine) as s:
        rows = s.scalars(select(SkillTrialRow).where(SkillTrialRow.entry_id == entry_id)
                         .order_by(SkillTrialRow.id))
        return [{"trial": r.trial, "version": r.entry_version, "problem_id": r.problem_id,
                 "passed": r.passed, "detail": r.detail, "run_id": r.run_id} for r in rows]


def should_demote(record: SkillRecord) -> bool:
    if record.uses < DEMOTE_MIN_USES:
        return False
    return wilson_upper(record.uses_passed, record.uses, DEMOTE_Z) < DEMOTE_BELOW


def wilson_upper(passed: int, n: int, z: float) -> float:
    """The upper bound of Wilson's score interval for a share of `passed` in `n`."""
    p, z2 = passed / n, z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return (centre + spread) / (1 + z2 / n)


def candidate(scope: str, code: str, provenance: Provenance, name: str | None = None
              ) -> tuple[SkillSignature, dict[str, Any]]:
    """The fields of a new candidate skill entry (quarantined until its tests pass)."""
    sig = parse_skill(code, name)
    return sig, {"scope": scope, "kind": "skill", "title": sig.title, "body": code,
                 "tags": ["skill"], "provenance": provenance, "status": "quarantined"}
