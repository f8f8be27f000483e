"""`crib model status` shows how fast each local model answered its recent calls, from the call
ledger in the real database (issue #18 item 13)."""
import json
import os
import subprocess
import sys

from sqlalchemy import insert

from crib.agents.records import CallRow
from crib.storage import open_database

LOCAL = "http://127.0.0.1:41234/v1"


def call(model: str, tokens_out: int, latency_ms: float, **extra) -> dict:
    return {"run_id": "r1", "role": "solver", "model": model, "base_url": LOCAL,
            "tokens_in": 100, "tokens_out": tokens_out, "cost_usd": 0.0,
            "latency_ms": latency_ms, "cached": False, **extra}


def status(data_dir, tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRIB_", "OPENAI_"))}
    env.update(CRIB_DATA_DIR=str(data_dir), NO_COLOR="1", XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    r = subprocess.run([sys.executable, "-m", "crib", "model", "status", "--json"], env=env,
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return {row["name"]: row for row in json.loads(r.stdout)["models"]}


def test_status_shows_the_tokens_per_second_of_recent_local_calls(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    assert status(data_dir, tmp_path)["qwen2.5-coder-0.5b"]["recent"] is None  # no database yet
    engine = open_database(f"sqlite:///{data_dir / 'crib.db'}")
    with engine.begin() as conn:
        conn.execute(insert(CallRow), [
            call("qwen2.5-coder-0.5b", 40, 10_000),  # 4 tok/s
            call("qwen2.5-coder-0.5b", 20, 2_000),  # 10 tok/s
            call("qwen2.5-coder-0.5b", 30, 10_000),  # 3 tok/s
            call("qwen2.5-coder-0.5b", 50, 0.0, cached=True),  # replayed: no speed
            call("qwen2.5-coder-0.5b", 0, 90_000, error="timed out"),
            call("qwen2.5-coder-0.5b", 500, 1_000, base_url="https://api.example.com/v1"),
        ])
    engine.dispose()
    rows = status(data_dir, tmp_path)
    recent = rows["qwen2.5-coder-0.5b"]["recent"]
    assert {k: recent[k] for k in ("calls", "tok_s_p50", "tok_s_min", "tok_s_max")} == {
        "calls": 3, "tok_s_p50": 4.0, "tok_s_min": 3.0, "tok_s_max": 10.0}
    assert rows["qwen2.5-coder-1.5b"]["recent"] is None
