"""A blocks-space search on a real local Ray cluster: every candidate, seeds and the compiled
designer proposal (with the loop policy it carries), is evaluated on the Ray workers, with the
same per-problem scores and calls as the same search run locally."""
import json
import os
import subprocess
import sys
from pathlib import Path

from crib.meta_search.blocks import config_of
from crib.meta_search.designer_prompt import DESIGNER_MARK
from tests.meta_search.test_search_blocks import change, solver
from tests.meta_search.test_search_ray import per_problem_scores
from tests.scripted_server import Reply

ROOT = Path(__file__).resolve().parents[2]


def designer(body):
    """The designer's one move: run the parent with the retry loop; the solver by `solver`."""
    text = "\n".join(str(m.get("content", "")) for m in body["messages"])
    return change(text) if DESIGNER_MARK in text else Reply(text=solver(text))


def test_blocks_candidates_are_evaluated_on_ray(scripted_server, ray_cluster, postgres_url,
                                                tmp_path):
    scripted_server.script(designer)
    args = [sys.executable, "-m", "crib", "search", "--space", "blocks", "--domain", "game24",
            "--generations", "1", "--val-size", "4", "--test-size", "0", "--seeds",
            "cot,step-back", "--minibatch", "2", "--smoke", "1", "--moves", "change",
            "--concurrency", "2", "--demos", "4", "--json"]

    def run(data: Path, *extra: str) -> dict:
        env = dict(os.environ, OPENAI_BASE_URL=scripted_server.url, OPENAI_API_KEY="x",
                   CRIB_LLM__MODEL="scripted-model", CRIB_DATA_DIR=str(data), NO_COLOR="1")
        r = subprocess.run([*args, *extra], env=env, capture_output=True, text=True, cwd=ROOT,
                           timeout=300)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
        return {**json.loads(r.stdout.strip().splitlines()[-1]), "stderr": r.stderr}

    local = run(tmp_path / "a")
    remote = run(tmp_path / "b", "--executor", "ray", "--ray-address", ray_cluster.address,
                 "--db", postgres_url)
    assert remote["status"] == local["status"] == "done"
    ray_scores = per_problem_scores(postgres_url, remote["run_id"])
    assert ray_scores == per_problem_scores(f"sqlite:///{tmp_path / 'a' / 'crib.db'}",
                                            local["run_id"])
    # The seeds and the generation-1 candidate, a compiled configuration, all ran on Ray.
    names = {name for name, _, _ in ray_scores}
    [child] = [n for n in names if n.startswith("g1-")]
    assert names == {"cot", "step-back", child} and child.startswith("g1-change-")
    # and so did the best seed's 4 training problems (the demonstrations' source)
    assert f"ray: {len(ray_scores) + 4} problem(s) ran on 2 worker(s)" in remote["stderr"]
    calls = [r["spend"]["by_role"]["solver"]["calls"] for r in (local, remote)]
    assert calls[0] == calls[1] > 0  # the retry loop's extra calls too

    from crib.meta_search.archive import Archive
    from crib.storage import open_database

    engine = open_database(postgres_url)
    try:
        archive = Archive(engine, remote["run_id"])
        by_name = {e.name: e for e in archive.entries()}
        assert config_of(by_name[child].code).loop == "retry"

        def calls_per_problem(entry_id: int) -> list[int]:
            return [o.calls for split in ("smoke", "minibatch", "validation")
                    for o in archive.evaluations(entry_id, split).values()]

        # On the workers the candidate ran with its own loop: retries after a wrong answer,
        # where its parent (the same skeleton, loop single) made a fixed number of calls.
        parent = calls_per_problem(by_name[child].parents[0])
        assert len(set(parent)) == 1 and max(calls_per_problem(by_name[child].id)) > parent[0]
    finally:
        engine.dispose()
