"""`crib solve --agent <compiled agent>` solves with the loop the agent file carries (the one
the search scored it with) unless `--loop` is given, and says which loop it used."""
import json
import re

import pytest

from crib.agents.domains.game24 import solve as solve24
from crib.meta_search.blocks import compile_agent, seed_config
from tests.crib.test_solve_cli import crib, crib_env
from tests.scripted_server import Reply

pytest.importorskip("crib.sandbox")

NUMBERS = re.compile(r"Use the numbers ([\d ]+?) to make 24")


def right_on_a_retry(body):
    """Wrong at first; right once the retry loop's feedback is in the prompt."""
    text = "\n".join(str(m.get("content", "")) for m in body["messages"])
    found = NUMBERS.findall(text)
    if not found or "Your previous answer" not in text:
        return Reply(text="Answer: 1 + 1")
    return Reply(text=f"Answer: {solve24([int(x) for x in found[-1].split()])}")


def test_solve_uses_the_loop_a_compiled_agent_carries(scripted_server, tmp_path):
    scripted_server.script(right_on_a_retry)
    env = crib_env(scripted_server.url, tmp_path / "data")
    agent = tmp_path / "best.py"
    agent.write_text(compile_agent(seed_config("cot").model_copy(update={"loop": "retry"})))
    args = ["solve", "--agent", str(agent), "--domain", "game24", "--limit", "3", "--seed", "2",
            "--memory", "none"]

    r = crib([*args, "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    # The stored retry loop: a wrong first answer, then the right one after the feedback.
    assert summary["n"] == 3 and summary["accuracy"] == 1.0 and summary["calls"] == 6
    assert f"note: {agent} carries loop retry; solving with it" in r.stderr

    # An explicit --loop wins: one attempt each, all wrong.
    r = crib([*args, "--loop", "single", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["accuracy"] == 0.0 and summary["calls"] == 3
    assert f"note: {agent} carries loop retry; --loop single overrides it" in r.stderr

    # The summary's title says where the loop came from (wrapped to the table's width).
    r = crib([*args[:2], "best.py", *args[3:]], env, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    title = " ".join(r.stdout.split())
    assert "crib solve — game24 with best.py, loop retry (stored in the agent)" in title, title


def test_an_agent_without_a_stored_loop_keeps_the_default(scripted_server, tmp_path):
    # A wrong answer in the JSON fields the library's cot asks for.
    scripted_server.script(lambda body: Reply(text=json.dumps(
        {"thinking": "guess", "answer": "Answer: 1 + 1"})))
    env = crib_env(scripted_server.url, tmp_path / "data")
    r = crib(["solve", "--agent", "cot", "--domain", "game24", "--limit", "2", "--memory",
              "none", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["accuracy"] == 0.0 and summary["calls"] == 2  # one attempt each
    assert "carries loop" not in r.stderr
