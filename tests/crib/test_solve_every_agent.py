"""Every seed agent, and an agent from an imported ADAS archive, solves through the real
`crib solve` (CLI, sandbox, database) against the scripted server, which answers each agent's
prompts sensibly for the puzzle 4 5 6 10."""
import json
import subprocess
import sys

from crib.agents.library import agent_names
from tests.agents.library.test_seed_agents import reply
from tests.crib.test_solve_cli import crib, crib_env
from tests.meta_search.test_adas_import_cli import PUBLISHED_SHAPE


def puzzle_file(tmp_path):
    data = tmp_path / "puzzle.jsonl"
    data.write_text('{"id": "p", "input": "4 5 6 10"}\n')
    return data


def test_every_seed_agent_solves_through_crib_solve(scripted_server, tmp_path):
    scripted_server.script(reply)
    data = puzzle_file(tmp_path)
    names = agent_names()
    assert len(names) == 10
    # All at once, each with its own data directory: ten CLI starts one after another cost
    # the suite ≈30 s.
    runs = {name: subprocess.Popen(
        [sys.executable, "-m", "crib", "solve", str(data), "--domain", "game24", "--agent", name,
         "--memory", "none", "--json"], env=crib_env(scripted_server.url, tmp_path / name),
        cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for name in names}
    for name, proc in runs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (name, err)
        summary = json.loads(out.strip().splitlines()[-1])
        assert (summary["n"], summary["accuracy"]) == (1, 1.0), (name, summary)


def test_an_imported_adas_archive_agent_solves_through_crib_solve(scripted_server, tmp_path):
    scripted_server.script(reply)
    env = crib_env(scripted_server.url, tmp_path / "data")
    archive = tmp_path / "mgsm_results.json"
    archive.write_text(json.dumps(PUBLISHED_SHAPE))
    r = crib(["archive", "import", str(archive), "--domain", "game24", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout.splitlines()[0])
    exported = tmp_path / "cot_adas.py"
    r = crib(["archive", "export", str(first["id"]), str(exported)], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "def forward(self, taskInfo):" in exported.read_text()  # ADAS's API, unchanged
    r = crib(["solve", str(puzzle_file(tmp_path)), "--domain", "game24", "--agent",
              str(exported), "--memory", "none", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert (summary["n"], summary["accuracy"]) == (1, 1.0), summary
    asked = scripted_server.chat_requests[-1].body
    assert asked["response_format"]["type"] == "json_object"  # LLMAgentBase's JSON request
