"""`crib solve` on 3 Game of 24 puzzles with the real embedded llama.cpp server and the 0.5B model.

The 0.5B model is for plumbing, not arithmetic: the test checks that every problem ran through
the sandbox and the local model and was scored, not that the answers are right."""
import json
import os
import subprocess
import sys

import pytest

from crib.agents.llm.local_model import FAST_MODEL, spec

pytestmark = pytest.mark.e2e


def test_solve_three_puzzles_on_the_embedded_model(local_model_path, tmp_path):
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    link = models / local_model_path.name
    link.symlink_to(local_model_path)  # reuse the session's verified GGUF instead of copying 470 MB
    link.with_name(link.name + ".sha256").write_text(spec(FAST_MODEL).sha256)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRIB_", "OPENAI_"))}
    env.update(CRIB_DATA_DIR=str(tmp_path / "data"), CRIB_LOCAL_MODEL=FAST_MODEL,
               CRIB_LOCAL_CTX="4096", CRIB_LLM__MAX_TOKENS="256")
    out = tmp_path / "out.jsonl"
    r = subprocess.run([sys.executable, "-m", "crib", "solve", "--domain", "game24",
                        "--limit", "3", "--agent", "cot", "--memory", "none",
                        "--concurrency", "1", "--out", str(out), "--json"],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["n"] == 3 and summary["calls"] >= 3 and summary["tokens_out"] > 0
    outcomes = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(outcomes) == 3
    assert all(o["attempts"] and o["score"] is not None for o in outcomes)
    # the embedded server is stopped with the command: no llama.cpp process left behind
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(tmp_path) not in ps
