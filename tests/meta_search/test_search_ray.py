"""`crib search --executor ray --db <postgres>` on a real local Ray cluster: the archive (in
PostgreSQL) holds the same per-problem scores as a local search over the same candidates."""
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.meta_search.helpers import Script, agent, proposal

ROOT = Path(__file__).resolve().parents[2]


def per_problem_scores(url: str, run_id: str) -> dict[tuple[str, str, str], float]:
    from crib.storage import open_database
    from crib.meta_search.archive import Archive

    engine = open_database(url)
    try:
        archive = Archive(engine, run_id)
        return {(e.name, split, pid): o.score for e in archive.entries()
                for split in ("smoke", "minibatch", "validation")
                for pid, o in archive.evaluations(e.id, split).items()}
    finally:
        engine.dispose()


def test_ray_search_scores_like_the_local_search(scripted_server, ray_cluster, postgres_url,
                                                 tmp_path):
    scripted_server.script(Script(proposals={1: proposal("strong", agent(90, "strong"))}))
    args = [sys.executable, "-m", "crib", "search", "--domain", "game24", "--generations", "1",
            "--val-size", "3", "--test-size", "0", "--seeds", "cot", "--minibatch", "2",
            "--smoke", "1", "--reflections", "0", "--concurrency", "2", "--json"]

    def run(data: Path, *extra: str, command=args) -> dict:
        env = dict(os.environ, OPENAI_BASE_URL=scripted_server.url, OPENAI_API_KEY="x",
                   CRIB_LLM__MODEL="scripted-model", CRIB_DATA_DIR=str(data), NO_COLOR="1")
        r = subprocess.run([*command, *extra], env=env, capture_output=True, text=True,
                           cwd=ROOT, timeout=300)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
        return {**json.loads(r.stdout.strip().splitlines()[-1]), "stderr": r.stderr}

    local = run(tmp_path / "a")
    on_ray = ["--executor", "ray", "--ray-address", ray_cluster.address, "--db", postgres_url]
    remote = run(tmp_path / "b", *on_ray)
    assert remote["status"] == local["status"] == "done"
    local_scores = per_problem_scores(f"sqlite:///{tmp_path / 'a' / 'crib.db'}", local["run_id"])
    ray_scores = per_problem_scores(postgres_url, remote["run_id"])
    assert ray_scores == local_scores
    # Every evaluation ran on the two Ray workers (none fell back to this machine).
    assert f"ray: {len(ray_scores)} problem(s) ran on 2 worker(s)" in remote["stderr"]
    assert {name for name, _, _ in ray_scores} == {"cot", "strong"}
    assert remote["best"]["name"] == local["best"]["name"]
    solver_calls = [r["spend"]["by_role"]["solver"]["calls"] for r in (local, remote)]
    assert solver_calls[0] == solver_calls[1] > 0  # the workers' calls are in the ledger

    # `crib search test` scores the selected agent on the held-out split on Ray too.
    tested = run(tmp_path / "b", "test", remote["run_id"], "--top", "1", "--test-size", "2",
                 "--json", *on_ray, command=[sys.executable, "-m", "crib", "search"])
    # The last line compares it with the best seed, scored on the same problems.
    comparison = tested["comparison"]
    assert comparison["n"] == 2 and comparison["seed"].endswith(" cot")
    assert comparison["selected"].endswith(" strong")
    assert "ray: 4 problem(s) ran on 2 worker(s)" in tested["stderr"]
