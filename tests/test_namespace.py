"""Crib installs one import name, `crib`: the wheel built from this repository goes into a fresh
venv next to the OpenAI Agents SDK, whose top-level package is `agents`, and both work there."""
from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import importlib.util, agents, crib
from crib.agents.library import list_agents
from crib.memory.store import MemoryStore
from crib.sandbox.sandbox import Sandbox
from crib.meta_search.search import SearchConfig
assert hasattr(agents, "Agent") and hasattr(agents, "Runner"), agents.__file__
assert "site-packages" in agents.__file__ and "site-packages" in crib.__file__
assert len(list_agents()) >= 10
print([importlib.util.find_spec(n) for n in ("memory", "sandbox", "meta_search")])
"""


def _run(*cmd: str, cwd: Path | None = None) -> str:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, f"{cmd}: {p.stdout[-2000:]}\n{p.stderr[-4000:]}"
    return p.stdout


def test_wheel_installs_beside_openai_agents(tmp_path):
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"),
         str(ROOT))
    wheel = next((tmp_path / "dist").glob("crib-*.whl"))
    top = _run(sys.executable, "-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); "
               "print(sorted({n.split('/')[0] for n in z.namelist() if '.dist-info' not in n}))",
               str(wheel))
    assert top.strip() == "['crib']"

    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = str(env_dir / "bin" / "python")
    _run(py, "-m", "pip", "install", "-q", str(wheel), "openai-agents")
    # Run from an empty folder, so the repository's own folders are not on the path.
    out = _run(py, "-c", PROBE, cwd=tmp_path)
    assert out.strip() == "[None, None, None]"
    assert "Usage: crib" in _run(str(env_dir / "bin" / "crib"), "--help", cwd=tmp_path)
