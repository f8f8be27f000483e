"""A real database for the viewer's tests: `crib solve` (retry loop, cheatsheet memory) and
`crib search` run through the CLI against the scripted server, one reply carrying markup that
would run script or load an image if the viewer ever let it through.

    python -m tests.crib.view_data DIR    # builds DIR/data/crib.db (for a look by hand)
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from crib.agents.domains.game24 import solve as solve24
from tests.meta_search.helpers import Script, agent, proposal
from tests.scripted_server import Reply, ScriptedServer

ROOT = Path(__file__).resolve().parents[2]
NUMBERS = re.compile(r"Use the numbers ([\d ]+?) to make 24")
# Shown as text by a safe viewer; in a careless one the first runs script, the second fetches.
INJECTED = ('<script>document.title="pwned";window.pwned=1</script>'
            '<img src=x onerror="window.pwned=2">')
SECRET = "sk-view-secret-never-stored-0123456789"
LESSONS = [("Products of pairs", "Try products of pairs first."),
           ("Split 24", "Look for 4*6, 3*8 or 2*12 and build each factor."),
           ("Reach 12, double", "Subtract to reach 12, then double it."),
           ("Fractions", "With two equal pairs, fractions like 8/(3-8/3) reach 24.")]


@dataclass
class ViewData:
    db_url: str
    db_path: Path
    solve_run: str
    search_run: str
    scope: str


def solver(body: dict, state: dict) -> Reply:
    """Right on most puzzles; wrong, with the injected markup, at the first try of some (the
    retry loop then tries again) and at every try of others (failures to filter)."""
    text = "\n".join(str(m.get("content", "")) for m in body["messages"])
    if "You curate a cheatsheet" in text:
        n = state["curations"] = state.get("curations", 0) + 1
        title, body = LESSONS[(n - 1) % len(LESSONS)]
        return Reply(text=json.dumps({"operations": [{
            "op": "add", "kind": "strategy", "title": title, "body": body + " " + INJECTED}]}))
    found = NUMBERS.findall(text)
    numbers = found[-1] if found else ""
    count = state.setdefault(numbers, 0)
    state[numbers] = count + 1
    total = sum(int(x) for x in numbers.split())
    if (count == 0 and total % 3 == 0) or total % 4 == 1:
        answer = "Answer: 1 + 1 " + INJECTED
    else:
        answer = f"Answer: {solve24([int(x) for x in numbers.split()]) if numbers else '1'}"
    return Reply(text=json.dumps({"thinking": "search all orders " + INJECTED, "answer": answer}))


def crib(args: list[str], env: dict, cwd: Path) -> str:
    r = subprocess.run([sys.executable, "-m", "crib", *args], env=env, cwd=cwd, text=True,
                       capture_output=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"crib {' '.join(args)} failed: {r.stderr[-3000:]}")
    return r.stdout


def build(root: Path, db_url: str | None = None) -> ViewData:
    """Runs on `db_url` (default: SQLite in root/data)."""
    data = root / "data"
    path = data / "crib.db"
    db_url = db_url or f"sqlite:///{path}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRIB_", "OPENAI_"))}
    env.update(CRIB_DATA_DIR=str(data), CRIB_DB_URL=db_url, CRIB_LLM__MODEL="scripted",
               OPENAI_API_KEY=SECRET, NO_COLOR="1")
    with ScriptedServer() as server:
        state: dict = {}
        server.script(lambda body: solver(body, state))
        env["OPENAI_BASE_URL"] = server.url
        summary = json.loads(crib(["solve", "--domain", "game24", "--limit", "12", "--seed", "1",
                                   "--agent", "cot", "--loop", "retry", "--memory", "dc-cu",
                                   "--scope", "viewtest", "--concurrency", "1", "--json"],
                                  env, root).strip().splitlines()[-1])
        script = Script(proposals={1: proposal("strong", agent(90, "strong"), INJECTED),
                                   2: proposal("broken", "def forward(self, taskInfo):\n"
                                               "    return undefined_name\n")})
        server.script(script)
        search = json.loads(crib(["search", "--domain", "game24", "--generations", "2",
                                  "--val-size", "4", "--test-size", "2", "--seeds", "cot",
                                  "--minibatch", "2", "--debug-rounds", "1",
                                  "--reflections", "0", "--json"],
                                 env, root).strip().splitlines()[-1])
        crib(["search", "test", search["run_id"], "--top", "2", "--json"], env, root)
    return ViewData(db_url=db_url, db_path=path, solve_run=summary["run_id"],
                    search_run=search["run_id"], scope="viewtest")


if __name__ == "__main__":
    print(build(Path(sys.argv[1]).resolve()))
