"""`crib search` says its run id when it starts (a killed run piped to a log can be resumed),
and warns of the flags a resumed run ignores."""
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.crib.test_solve_cli import game24_solver

ROOT = Path(__file__).resolve().parents[2]


def crib(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crib", *args], env=env, capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def test_run_id_comes_first_and_resume_warns_of_ignored_flags(scripted_server, tmp_path):
    scripted_server.script(game24_solver)
    env = dict(os.environ, OPENAI_BASE_URL=scripted_server.url, OPENAI_API_KEY="x",
               CRIB_LLM__MODEL="scripted-model", CRIB_DATA_DIR=str(tmp_path / "data"))
    r = crib(["search", "--domain", "game24", "--generations", "0", "--val-size", "2",
              "--test-size", "0", "--seeds", "cot", "--json"], env)
    assert r.returncode == 0, r.stderr[-2000:]
    run_id = json.loads(r.stdout.strip().splitlines()[-1])["run_id"]
    # stdout is a pipe here: the id is on stderr from the start, with how to resume
    first = next(line for line in r.stderr.splitlines() if line.startswith("run "))
    assert first == f"run {run_id}: started (resume with: crib search --resume {run_id})"

    r = crib(["search", "--resume", run_id, "--val-size", "9", "--strategy", "evolve",
              "--json"], env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "--val-size, --strategy ignored with --resume" in r.stderr
    assert f"run {run_id}: resumed" in r.stderr


def test_a_missing_dataset_stops_before_a_run_is_recorded(tmp_path):
    env = dict(os.environ, CRIB_DATA_DIR=str(tmp_path / "data"))
    r = crib(["search", "--domain", "game24", "--file", str(tmp_path / "nope.jsonl")], env)
    assert r.returncode == 2 and "--file" in r.stderr and "does not exist" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "data" / "crib.db").exists()


def test_an_unknown_domain_is_a_usage_error(tmp_path):
    env = dict(os.environ, CRIB_DATA_DIR=str(tmp_path / "data"))
    for args in (["search", "--domain", "chess"], ["search", "transfer", "x", "--domain", "chess"]):
        r = crib(args, env)
        assert r.returncode == 2 and "unknown domain 'chess'" in r.stderr, r.stderr[-2000:]
        assert "Traceback" not in r.stderr
