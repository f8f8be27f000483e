"""The learning curve through the real `crib solve` and `crib memory`: on the scripted server a
"model" writes a full solver program until a skill is listed in its prompt, then calls the
skill. Crib captures the first verified program as a skill, tests and promotes it, the later
problems import it in the sandbox, and the summary's warm part costs fewer tokens per solved
problem than its cold part."""
import json
import re

import pytest

from crib.solve_view import problem_line
from tests.agents.test_skills import SOLVER
from tests.crib.test_solve_cli import crib, crib_env

NUMBERS = re.compile(r"Use the numbers ([\d ]+) to make 24")


def prompt(body: dict) -> str:
    return "\n".join(str(m.get("content", "")) for m in body["messages"])


def learner(body: dict) -> str:
    text = prompt(body)
    if '"operations"' in text:  # the curator: nothing to add
        return '{"operations": [{"op": "noop", "reason": "skills cover it"}]}'
    nums = "[" + ", ".join(NUMBERS.findall(text)[-1].split()) + "]"
    if "from skills import solve_game24" in text:
        return f"```python\nfrom skills import solve_game24\nprint(solve_game24({nums}))\n```"
    if "Your previous answer" not in text:  # from scratch, a guess first, as small models do
        return "```python\nprint('Answer: 4 * 6')\n```"
    return "```python\n" + SOLVER.replace("[4, 5, 6, 10]", nums) + "```"


@pytest.mark.parametrize("mode, cold", [("dc-cu", None), ("skills", 4)])
def test_a_memory_run_learns_a_skill_and_reports_its_cold_and_warm_parts(scripted_server,
                                                                          tmp_path, mode, cold):
    scripted_server.script(learner)
    env = crib_env(scripted_server.url, tmp_path / "data")
    r = crib(["solve", "--domain", "game24", "--limit", "13", "--seed", "2", "--agent",
              "program-of-thought", "--loop", "retry", "--memory", mode, "--concurrency", "1",
              "--json", "--out", str(tmp_path / "out.jsonl"),
              *(["--cold", str(cold)] if cold else [])], env, tmp_path, timeout=400)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    split = cold or 10  # the default cold part: the first 10 problems
    cold, warm = summary["learning"]["cold"], summary["learning"]["warm"]
    assert (cold["first"], cold["last"], warm["first"], warm["last"]) == (1, split, split + 1, 13)
    assert cold["accuracy"] == warm["accuracy"] == 1.0
    # the first problem's guess and program against one call a problem once the skill is there
    assert warm["tokens_per_solved"] < cold["tokens_per_solved"]
    assert (warm["tokens_per_solved_low"] <= warm["tokens_per_solved"]
            <= warm["tokens_per_solved_high"])
    assert (cold["calls_per_solved"], warm["calls_per_solved"]) == ((split + 1) / split, 1.0)
    # each problem's record says what its skills did; the progress shows it problem by problem
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert records[0]["notes"] == ["skill solve_game24 learned from this problem: passed 20 of "
                                   "20 tests"]
    assert all(r["notes"] == ["called skill solve_game24 in 1 attempt(s), 1 passed"]
               for r in records[1:])
    assert problem_line(records[1]) == (f"  ✓ {records[1]['problem_id']}  1 call, "
                                        f"{records[1]['tokens_in'] + records[1]['tokens_out']:,} "
                                        "tokens; called skill solve_game24 in 1 attempt(s), "
                                        "1 passed")
    curations = [r for r in scripted_server.chat_requests if '"operations"' in prompt(r.body)]
    assert len(curations) == (13 if mode == "dc-cu" else 0)  # skills: no curator call

    listed = crib(["memory", "list", "--scope", "game24", "--json"], env, tmp_path)
    skills = [e for e in json.loads(listed.stdout) if e["kind"] == "skill"]
    assert [(s["title"], s["status"]) for s in skills] == [("solve_game24(numbers)", "active")]
    listed = json.loads(crib(["memory", "skills", "--scope", "game24", "--json"], env,
                             tmp_path).stdout)
    assert [s["id"] for s in listed] == [skills[0]["id"]] and listed[0]["record"]["tests"] == 20
    shown = json.loads(crib(["memory", "show", skills[0]["id"], "--json"], env, tmp_path).stdout)
    assert "def solve_game24(numbers):" in shown["body"]
    assert shown["record"]["tests_passed"] == 20 and shown["record"]["uses"] == 12
    assert shown["record"]["uses_passed"] == 12


HAND_WRITTEN = '''def make_24(numbers):
    """A wrong skill: always the same expression."""
    return "Answer: 4 * 5 - (6 - 10)"
'''


def test_a_hand_written_skill_is_tested_before_it_is_trusted(scripted_server, tmp_path):
    env = crib_env(scripted_server.url, tmp_path / "data")
    (tmp_path / "wrong.py").write_text(HAND_WRITTEN)
    r = crib(["memory", "add", "--scope", "game24", "--kind", "skill", "--file",
              str(tmp_path / "wrong.py"), "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    entry = json.loads(r.stdout)
    assert (entry["title"], entry["status"]) == ("make_24(numbers)", "archived")
    (tmp_path / "broken.py").write_text("def f(:\n")
    r = crib(["memory", "add", "--scope", "game24", "--kind", "skill", "--file",
              str(tmp_path / "broken.py")], env, tmp_path)
    assert r.returncode != 0 and "does not parse" in r.stderr and "Traceback" not in r.stderr


def test_ablate_adds_the_compute_matched_baseline(scripted_server, tmp_path):
    scripted_server.script(learner)
    env = crib_env(scripted_server.url, tmp_path / "data")
    r = crib(["solve", "--domain", "game24", "--limit", "3", "--agent", "program-of-thought",
              "--ablate", "--concurrency", "1", "--json"], env, tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr
    runs = json.loads(r.stdout.strip().splitlines()[-1])["ablation"]
    # dc-cu makes a solver and a curator call per problem; a plain attempt makes one call
    assert list(runs) == ["none", "empty", "retrieval", "dc-cu", "none+best-of-n (n=2)"]
    matched = runs["none+best-of-n (n=2)"]
    assert matched["n"] == 3 and matched["learning"]["cold"]["n"] == 3
    assert runs["dc-cu"]["calls"] == 6 and runs["none"]["calls"] == 3
