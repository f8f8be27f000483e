"""ruff (pyproject's [tool.ruff.lint]: undefined names, unused imports, 100 columns, the old
top-level names) and mypy (pyproject's [tool.mypy], `mypy -p crib`) report nothing in the parts
of Crib that are clean. CLEAN grows as the rest is fixed, until it is every package."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Repository paths (folders or files); mypy names them through the `crib` namespace.
CLEAN = [
    "sandbox", "memory", "agents/executors.py", "agents/ray_executor.py", "agents/stats.py",
    "agents/records.py", "agents/verify", "agents/domains", "agents/llm", "agents/runs.py",
    "agents/attempts.py", "meta_search/archive.py",
    "meta_search/dashboard.py", "meta_search/splits.py", "meta_search/plot.py",
    "meta_search/cascade.py", "meta_search/evaluate.py", "meta_search/static_check.py",
    "meta_search/meta_memory.py", "meta_search/records.py", "meta_search/adas_import.py",
    "meta_search/meta_agent.py", "meta_search/search.py", "meta_search/designer.py",
    "meta_search/reports.py", "meta_search/strategies.py", "meta_search/parents.py",
    "crib/commands/search.py", "crib/cli.py", "crib/storage.py",
    "crib/executor_wiring.py", "crib/solve_view.py", "crib/solve_run.py", "crib/chat.py",
    "crib/context.py", "crib/commands/__init__.py", "crib/commands/config.py",
    "crib/commands/sandbox.py", "tests/sandbox", "tests/memory", "tests/agents/llm",
    "tests/crib/test_solve_e2e.py", "tests/crib/test_storage.py",
    "tests/meta_search/search_proc.py", "tests/meta_search/test_search_e2e.py",
    "tests/postgres.py", "tests/scripted_server.py",
]
LAYERS = ("agents", "memory", "sandbox", "meta_search")


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def _as_mypy_path(path: str) -> str:
    return f"crib/{path}" if path.split("/")[0] in LAYERS else path


def test_ruff_reports_nothing_in_the_clean_parts():
    p = subprocess.run([_tool("ruff"), "check", "--output-format", "concise", *CLEAN], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]


def test_mypy_reports_nothing_in_the_clean_parts():
    p = subprocess.run([_tool("mypy"), "-p", "crib"], cwd=ROOT, capture_output=True, text=True,
                       timeout=900)
    assert p.returncode in (0, 1), p.stdout[-2000:] + p.stderr[-4000:]  # 2: mypy itself failed
    clean = tuple(_as_mypy_path(path) for path in CLEAN if not path.startswith("tests/"))
    errors = [line for line in p.stdout.splitlines()
              if ": error:" in line and line.startswith(clean)]
    assert errors == [], "\n".join(errors)
