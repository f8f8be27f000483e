"""`crib sandbox run` and `crib sandbox check` as a user runs them."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from crib.sandbox import check

CRIB = [str(Path(sys.executable).parent / "crib")]


@pytest.fixture(scope="module", autouse=True)
def tiers_work():
    report = check()
    if not (report.agent.ok and report.snippet.ok):
        pytest.skip("sandbox tiers unavailable here")


def crib(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CRIB, *args], capture_output=True, text=True, timeout=120)


def test_run_json(tmp_path, tier="snippet"):
    f = tmp_path / "answer.py"
    f.write_text("print('hi')\ndef f(x):\n    return x * 2\n")
    p = crib("sandbox", "run", str(f), "--tier", tier, "--timeout", "5", "--memory", "512",
             "--json", "--entry", "f", "--inputs", "[21]")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert {"ok", "exit_code", "stdout", "stderr", "limit_hit", "wall_ms"} <= set(out)
    assert out["ok"] and out["stdout"] == "hi\n" and out["value"] == 42 and out["tier"] == tier


def test_run_failure_exit_status_and_limit(tmp_path):
    f = tmp_path / "loop.py"
    f.write_text("while True:\n    pass\n")
    p = crib("sandbox", "run", str(f), "--tier", "agent", "--timeout", "1", "--json")
    assert p.returncode == 1
    assert json.loads(p.stdout)["limit_hit"] in ("timeout", "cpu")
    p = crib("sandbox", "run", str(tmp_path / "missing.py"))
    assert p.returncode == 2 and "cannot read" in p.stderr


def test_check_json():
    p = crib("sandbox", "check", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["ok"] and out["agent"]["ok"] and out["snippet"]["ok"]
    assert out["trials"]["snippet"]["ok"] and out["trials"]["agent"]["ok"]
