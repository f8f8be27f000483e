"""`crib solve --executor ray` on a real local Ray cluster, a real PostgreSQL and the scripted
server: the same per-problem scores as the local executor, every call in the shared ledger,
budgets stop the run and resume finishes it, the key stays out of outputs."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.crib.test_solve_cli import crib, crib_env
from tests.meta_search.helpers import solver_reply

KEY = "sk-test-never-leaks-0123456789"


def scores(path: Path) -> dict[str, float]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == len({r["problem_id"] for r in rows}), "a problem was written twice"
    return {r["problem_id"]: r["score"] for r in rows}


def last_json(r: subprocess.CompletedProcess) -> dict:
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_ray_gives_the_local_scores_stops_at_the_budget_and_resumes(
        scripted_server, ray_cluster, postgres_url, tmp_path):
    """One Ray run stopped by its token budget and resumed must end with the same per-problem
    scores as the local executor, each problem once, every call in the shared ledger."""
    scripted_server.script(solver_reply)  # right on about half the puzzles, deterministically
    base = ["solve", "--domain", "game24", "--limit", "6", "--seed", "1", "--agent", "cot",
            "--memory", "none", "--concurrency", "3", "--json"]
    local = last_json(crib([*base, "--out", str(tmp_path / "local.jsonl")],
                           crib_env(scripted_server.url, tmp_path / "a"), tmp_path))
    local_calls = scripted_server.served

    env = crib_env(scripted_server.url, tmp_path / "b")
    ray = ["--executor", "ray", "--ray-address", ray_cluster.address, "--db", postgres_url]
    r = crib([*base, "--out", str(tmp_path / "ray.jsonl"), "--run-id", "on-ray",
              "--budget-tokens", "300", *ray], env, tmp_path)
    assert r.returncode == 3, r.stdout[-2000:] + r.stderr[-4000:]
    said = " ".join(r.stderr.split())
    assert "budget reached" in said and "--resume" in said
    first = scripted_server.served - local_calls
    assert 0 < first < 6  # stopped submitting at the budget
    assert f"ray: {first} problem(s) ran on 2 worker(s)" in said
    r = crib(["solve", "--resume", "on-ray", "--json", *ray], env, tmp_path)
    remote = last_json(r)
    assert KEY not in r.stdout + r.stderr + (tmp_path / "ray.jsonl").read_text()

    by_local, by_ray = scores(tmp_path / "local.jsonl"), scores(tmp_path / "ray.jsonl")
    assert by_ray == by_local and len(by_ray) == 6
    assert set(by_ray.values()) == {0.0, 1.0}  # a real mix, not all right or all wrong
    assert remote["accuracy"] == local["accuracy"] and remote["errors"] == 0
    # The workers' calls reached the endpoint and the shared ledger (the summary reads it).
    assert remote["calls"] == scripted_server.served - local_calls == local["calls"]

    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url)
    with engine.connect() as c:
        manifest = c.execute(text("select manifest from runs where id = 'on-ray'")).scalar_one()
        attempts = c.execute(text("select count(*) from attempts where run_id = 'on-ray'")
                             ).scalar_one()
    engine.dispose()
    assert manifest["executor"] == "ray" and attempts == 6


def test_ray_without_a_cluster_address_says_how_to_start_one(tmp_path):
    pytest.importorskip("ray")
    env = {k: v for k, v in crib_env("http://127.0.0.1:9/v1", tmp_path / "d").items()
           if k != "RAY_ADDRESS"}
    r = subprocess.run([sys.executable, "-m", "crib", "solve", "--domain", "game24", "--limit",
                        "1", "--executor", "ray"], env=env, cwd=tmp_path, text=True,
                       capture_output=True, timeout=60)
    assert r.returncode == 2
    said = " ".join(r.stderr.split())  # Rich wraps long lines
    assert "ray start --head" in said and "--ray-address" in said


def test_a_remote_cluster_refuses_sqlite_and_loopback_endpoints():
    pytest.importorskip("ray")
    from crib.agents.executors import ExecutorUnavailable
    from crib.agents.ray_executor import RayExecutor, WorkerSetup
    from crib.executor_wiring import open_worker_context

    setup = WorkerSetup(open_context=open_worker_context, payload={},
                        database_url="sqlite:////data/crib.db")
    with pytest.raises(ExecutorUnavailable, match="cannot share the SQLite database"):
        RayExecutor("10.1.2.3:6379", setup)._check_shareable(["10.1.2.3"])
    setup = WorkerSetup(open_context=open_worker_context, payload={},
                        database_url="postgresql+psycopg://crib:hunter2@db/crib",
                        loopback_endpoints=["http://127.0.0.1:8080/v1"])
    with pytest.raises(ExecutorUnavailable, match="reachable from this machine only") as err:
        RayExecutor("10.1.2.3:6379", setup)._check_shareable(["10.1.2.3"])
    assert "hunter2" not in str(err.value)
    from crib.agents.ray_executor import Secrets

    secrets = Secrets({"OPENAI_API_KEY": KEY})
    assert KEY not in repr(secrets) and KEY not in str(secrets)
    assert secrets.names() == ["OPENAI_API_KEY"]


SNOOP = '''"""Looks for the API key: its own environment and every environ /proc shows it."""


def forward(self, taskInfo):
    import os

    found = {"env": dict(os.environ)}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                found[pid] = open(f"/proc/{pid}/environ", "rb").read().decode("latin-1")
            except OSError as exc:
                found[pid] = type(exc).__name__
    agent = LLMAgentBase(["answer"], "snoop")
    agent([taskInfo], "Solve it.")
    return "Answer: " + repr(found)
'''


def test_the_key_reaches_the_ray_worker_but_not_its_sandbox(scripted_server, ray_cluster,
                                                             tmp_path):
    """The cluster was started without the key: the host sends it; the agent must not see it."""
    scripted_server.script(solver_reply)
    (tmp_path / "snoop.py").write_text(SNOOP)
    out = tmp_path / "snoop.jsonl"
    last_json(crib(["solve", "--domain", "game24", "--limit", "1", "--agent",
                    str(tmp_path / "snoop.py"), "--memory", "none", "--out", str(out), "--json",
                    "--executor", "ray", "--ray-address", ray_cluster.address],
                   crib_env(scripted_server.url, tmp_path / "data"), tmp_path))
    seen = out.read_text()
    assert "OMP_NUM_THREADS" in seen  # the snoop ran and reported its environment
    assert KEY not in seen
    assert [r.headers.get("authorization") for r in scripted_server.chat_requests] == \
        [f"Bearer {KEY}"]  # ... and the worker's model call carried it


def test_database_passwords_are_masked_in_the_ray_job_entrypoint():
    """Ray stores the driver's command line as the job's entrypoint (shown by its dashboard);
    `--db URL` may carry a password."""
    pytest.importorskip("ray")
    from crib.agents.ray_executor import mask_passwords

    line = "crib solve --db postgresql+psycopg://crib:hunter2@db:5432/crib --executor ray"
    assert mask_passwords(line) == line.replace("hunter2", "***")
    assert mask_passwords("--db=postgresql://crib@db/crib") == "--db=postgresql://crib@db/crib"
