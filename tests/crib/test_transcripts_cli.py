"""Transcripts as users get them: recorded by `crib solve`, `crib search` and `crib chat` on the
scripted server, measured by `crib runs stats`, pruned by `crib runs gc`."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.crib.view_data import SECRET

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(view_data):
    return view_data


def crib(*args: str, db: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRIB_", "OPENAI_"))}
    return subprocess.run([sys.executable, "-m", "crib", *args, "--db", db], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def query(data, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(data.db_path) as conn:
        return conn.execute(sql, params).fetchall()


def test_solve_records_every_call_run_and_verdict_of_every_attempt(data):
    attempts = [a for (a,) in query(data, "SELECT id FROM attempts WHERE run_id = ?",
                                    data.solve_run)]
    assert attempts
    for attempt in attempts:
        kinds = {k for (k,) in query(data, "SELECT kind FROM transcript_events "
                                     "WHERE attempt_id = ?", attempt)}
        assert {"call", "sandbox", "verdict"} <= kinds, (attempt, kinds)
    # One call event per ledger row, for the solver's calls and the curator's alike.
    ledger = query(data, "SELECT role, count(*) FROM llm_calls WHERE run_id = ? GROUP BY role "
                   "ORDER BY role", data.solve_run)
    recorded = query(data, "SELECT json_extract(data, '$.role'), count(*) FROM transcript_events"
                     " WHERE run_id = ? AND kind = 'call' GROUP BY 1 ORDER BY 1", data.solve_run)
    assert recorded == ledger and {r for r, _ in ledger} == {"curator", "solver"}
    # The memory the prompts carried (dc-cu): its entries by id, once some were learned.
    seen = query(data, "SELECT data FROM transcript_events WHERE run_id = ? AND kind = 'memory'",
                 data.solve_run)
    assert any(json.loads(d)["entry_ids"] for (d,) in seen)


def test_search_records_meta_agent_calls_and_candidate_attempts(data):
    meta = query(data, "SELECT count(*) FROM transcript_events WHERE run_id = ? AND kind = "
                 "'call' AND attempt_id IS NULL AND json_extract(data, '$.role') = 'meta'",
                 data.search_run)[0][0]
    assert meta == query(data, "SELECT count(*) FROM llm_calls WHERE run_id = ? AND role = "
                         "'meta'", data.search_run)[0][0] > 0
    broken = query(data, "SELECT count(*) FROM transcript_events WHERE run_id = ? AND kind = "
                   "'sandbox' AND json_extract(data, '$.exit_code') != 0", data.search_run)
    assert broken[0][0] > 0  # the broken candidate's smoke runs, with their errors


def test_no_key_in_the_database(data):
    for path in (p for p in data.db_path.parent.glob("crib.db*") if p.is_file()):
        assert SECRET.encode() not in path.read_bytes(), path


def test_runs_stats_and_gc(data, tmp_path):
    db = tmp_path / "copy.db"
    with sqlite3.connect(data.db_path) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    url = f"sqlite:///{db}"
    r = crib("runs", "stats", "--json", db=url)
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    total = query(data, "SELECT count(*) FROM transcript_events")[0][0]
    assert stats["events_total"] == total and stats["runs"] >= 2
    assert stats["referenced_chars"] > stats["text_chars"] > 0 and stats["shared_ratio"] > 1
    plain = crib("runs", "stats", db=url)
    assert plain.returncode == 0 and f"{total} events" in plain.stdout
    kept = crib("runs", "gc", "--older-than", "1h", "--json", db=url)
    assert kept.returncode == 0 and json.loads(kept.stdout)["events"] == 0
    solve_events = query(data, "SELECT count(*) FROM transcript_events WHERE run_id = ?",
                         data.solve_run)[0][0]
    gone = crib("runs", "gc", "--older-than", "0s", "--run", data.solve_run, "--json", db=url)
    assert gone.returncode == 0, gone.stderr
    assert json.loads(gone.stdout)["events"] == solve_events
    after = json.loads(crib("runs", "stats", "--json", db=url).stdout)
    assert after["events_total"] == total - solve_events and after["texts"] < stats["texts"]
    bad = crib("runs", "gc", "--older-than", "30x", db=url)
    assert bad.returncode == 2 and "--older-than '30x'" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
def test_chat_records_its_streamed_calls(scripted_server, tmp_path):
    from tests.crib.test_chat_tmux import Tmux, chat_model

    scripted_server.script(chat_model)
    env = {"CRIB_DATA_DIR": str(tmp_path / "data"), "OPENAI_BASE_URL": scripted_server.url,
           "CRIB_LLM__MODEL": "scripted", "HOME": str(tmp_path), "PATH": os.environ["PATH"],
           "TERM": "xterm-256color"}
    tmux = Tmux(f"{sys.executable} -m crib chat --domain game24 --memory none", env)
    try:
        tmux.wait_for(r"you>")
        tmux.send("3 3 8 8", "Enter")
        tmux.wait_for(r"passed", timeout=180)
        tmux.send("/quit", "Enter")
        tmux.wait_for(r"bye")
    finally:
        tmux.close()
    with sqlite3.connect(tmp_path / "data" / "crib.db") as conn:
        rows = conn.execute("SELECT e.data FROM transcript_events e JOIN runs r "
                            "ON r.id = e.run_id WHERE r.mode = 'chat' AND e.kind = 'call' "
                            "ORDER BY e.id").fetchall()
        texts = dict(conn.execute("SELECT hash, text FROM transcript_texts").fetchall())
    calls = [json.loads(d) for (d,) in rows]
    assert len(calls) == 2 and all(c["call"] == "stream" for c in calls)
    assert "3 3 8 8" in texts[calls[0]["messages"][-1]["text"]]
    assert "Let me fix that" in texts[calls[1]["reply"]]
    # ... and the viewer shows the session's turns.
    from starlette.testclient import TestClient

    from crib.view.app import create_app, readonly_engine

    with sqlite3.connect(tmp_path / "data" / "crib.db") as conn:
        (run_id,) = conn.execute("SELECT id FROM runs WHERE mode = 'chat'").fetchone()
    engine = readonly_engine(f"sqlite:///{tmp_path / 'data' / 'crib.db'}")
    try:
        client = TestClient(create_app(engine))
        assert "2 model calls outside attempts" in client.get(f"/runs/{run_id}").text
        page = client.get(f"/runs/{run_id}/calls").text
        assert "3 3 8 8" in page and "Let me fix that" in page
    finally:
        engine.dispose()


def test_ray_workers_record_transcripts_without_the_key(scripted_server, ray_cluster, tmp_path):
    """Calls made on a Ray worker land in the shared database's transcripts, the key (sent to
    the worker by the host) redacted out of them."""
    from tests.crib.test_solve_cli import crib as crib_cli
    from tests.crib.test_solve_cli import crib_env
    from tests.crib.test_solve_ray import KEY, last_json
    from tests.meta_search.helpers import solver_reply

    scripted_server.script(lambda body: solver_reply(body) + f" (not {KEY})")
    env = crib_env(scripted_server.url, tmp_path / "data")
    summary = last_json(crib_cli(["solve", "--domain", "game24", "--limit", "2", "--agent", "cot",
                                  "--memory", "none", "--json", "--executor", "ray",
                                  "--ray-address", ray_cluster.address], env, tmp_path))
    db = tmp_path / "data" / "crib.db"
    with sqlite3.connect(db) as conn:
        kinds = dict(conn.execute("SELECT kind, count(*) FROM transcript_events WHERE run_id = ?"
                                  " GROUP BY kind", (summary["run_id"],)).fetchall())
        texts = [t for (t,) in conn.execute("SELECT text FROM transcript_texts")]
        data = [d for (d,) in conn.execute("SELECT data FROM transcript_events")]
    assert kinds.get("call") == summary["calls"] == 2 and kinds.get("sandbox") == 2
    replies = [t for t in texts if "(not " in t]
    assert replies and all("[redacted]" in t for t in replies)
    # (The reply itself, key and all, is also in the response cache, the attempt and the
    # result: what a model says is stored as said there; transcripts redact it.)
    assert not [t for t in texts + data if KEY in t]
