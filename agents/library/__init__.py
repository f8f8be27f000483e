"""The seed agent library: agents stored as code strings, loaded as text and never imported.

Each seed is a data file `agents/library/<name>.py` (underscores in the file name, hyphens in
the agent name) defining `forward(task)` and importing what it uses from the guest prelude
(`from crib_runtime import ...`); its module docstring's first line is the agent's one-line
`thought`. The code runs only inside the sandbox (`Sandbox.run_agent`), so this module reads
files and parses code without running it (`ast.parse` compiles no code and runs none). ADAS
agents (`forward(self, taskInfo)`) load too: `AgentSpec.program` adapts them (`_adas.py`).
"""
from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from crib.agents.library._adas import AgentAPI, agent_api, program_of  # noqa: F401 - public

LIBRARY_DIR = Path(__file__).resolve().parent


class AgentSpec(BaseModel):
    """An agent: its name, one-line idea, code (a string defining `forward`) and lineage."""

    name: str
    thought: str = ""
    code: str
    code_hash: str = ""
    parents: list[str] = Field(default_factory=list)
    generation: int | None = None
    source: str | None = None  # file path, "library" or "adas-dict": where it was loaded from

    def model_post_init(self, _context: Any) -> None:
        if not self.code_hash:
            self.code_hash = code_hash(self.code)

    @property
    def api(self) -> AgentAPI:
        """"crib" (`forward(task)`) or "adas" (`forward(self, taskInfo)`, run adapted)."""
        return agent_api(self.code)

    @property
    def program(self) -> str:
        """The code the sandbox runs: `code` itself, or an ADAS agent's code adapted."""
        return program_of(self.code)


def normalise_code(code: str) -> str:
    """Line endings, trailing spaces and surrounding blank lines do not change an agent."""
    lines = code.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4).split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n") + "\n"


def code_hash(code: str) -> str:
    """The identity of an agent's code: sha256 of its syntax tree, so formatting and comments
    do not make a different agent (the archive finds duplicates by it, attempts are keyed by
    it); the normalised text for code that does not parse."""
    try:
        canonical = ast.dump(ast.parse(code))
    except (SyntaxError, ValueError):
        canonical = normalise_code(code)
    return hashlib.sha256(canonical.encode()).hexdigest()


def thought_of(code: str) -> str:
    """First line of the module docstring, or "" when there is none or the code does not parse."""
    try:
        doc = ast.get_docstring(ast.parse(code))
    except (SyntaxError, ValueError):
        return ""
    return doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""


def _file_name(name: str) -> str:
    return name.strip().replace("-", "_")


def _agent_name(stem: str) -> str:
    return stem.replace("_", "-")


def library_files() -> list[Path]:
    return sorted(p for p in LIBRARY_DIR.glob("*.py") if not p.name.startswith("_"))


def agent_names() -> list[str]:
    return [_agent_name(p.stem) for p in library_files()]


def list_agents() -> list[AgentSpec]:
    """Every seed agent in the library, sorted by name."""
    return [_from_file(p, name=_agent_name(p.stem), source="library") for p in library_files()]


def _from_file(path: Path, name: str | None = None, source: str | None = None) -> AgentSpec:
    code = path.read_text(encoding="utf-8")
    return AgentSpec(
        name=name or _agent_name(path.stem),
        thought=thought_of(code),
        code=code,
        source=source or str(path),
    )


def from_adas_dict(data: dict) -> AgentSpec:
    """An ADAS archive entry `{"name", "thought", "code"}` (extra keys such as fitness ignored)."""
    missing = [k for k in ("name", "code") if not isinstance(data.get(k), str) or not data[k]]
    if missing:
        raise ValueError(f"ADAS agent dict lacks non-empty string field(s): {', '.join(missing)}")
    thought = str(data.get("thought") or "").strip() or thought_of(data["code"])
    generation = data.get("generation")
    return AgentSpec(
        name=data["name"],
        thought=thought,
        code=data["code"],
        parents=[str(p) for p in data.get("parents") or []],
        generation=generation if isinstance(generation, int) else None,
        source="adas-dict",
    )


def load_agent(ref: str | Path | dict | AgentSpec) -> AgentSpec:
    """A library name (`cot`, `cot-sc`), a path to a `.py` (or ADAS `.json`) file, or a dict.

    Raises ValueError naming the known agents when `ref` is neither a file nor a seed.
    """
    if isinstance(ref, AgentSpec):
        return ref
    if isinstance(ref, dict):
        return from_adas_dict(ref)
    text = str(ref)
    path = Path(text).expanduser()
    looks_like_path = isinstance(ref, Path) or text.endswith((".py", ".json")) or "/" in text
    if looks_like_path:
        if not path.is_file():
            raise ValueError(f"agent file not found: {path}")
        if path.suffix == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: not valid JSON ({exc})") from exc
            if not isinstance(data, dict):
                raise ValueError(f"{path}: expected a JSON object {{name, thought, code}}")
            return from_adas_dict(data)
        return _from_file(path)
    seed = LIBRARY_DIR / f"{_file_name(text)}.py"
    if not text.startswith("_") and seed.is_file():
        return _from_file(seed, name=_agent_name(seed.stem), source="library")
    raise ValueError(f"unknown agent {text!r}; seed agents: {', '.join(agent_names())} "
                     "(or give a path to a .py file)")
