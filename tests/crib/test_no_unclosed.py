"""`crib solve` leaves no HTTP pool of the model client open. Run through the real CLI on the
scripted server, in Python's development mode (ResourceWarnings shown), its stderr holds no
aiohttp "Unclosed client session" / "Unclosed connector" report, and at exit no session it
made is still open (a process that ends skips the finalizers that would report a leak)."""
import json
import subprocess
import sys

import pytest

from tests.crib.test_solve_cli import crib_env
from tests.crib.test_solve_learning import learner, prompt

UNCLOSED = ("Unclosed client session", "Unclosed connector")
# `python -m crib ARGS`, then at exit: the garbage collected (its finalizers report what they
# find unclosed) and every aiohttp session still alive and open named.
CRIB_THEN_CHECK = """
import atexit, gc, runpy, sys

def open_sessions():
    gc.unfreeze()  # crib's own exit handler froze the heap (crib/cli.py) before this one runs
    gc.collect()
    aiohttp = sys.modules.get("aiohttp")
    for o in gc.get_objects() if aiohttp else []:
        if isinstance(o, aiohttp.ClientSession) and not o.closed:
            print(f"Unclosed client session at exit: {o!r}", file=sys.stderr)

atexit.register(open_sessions)
runpy.run_module("crib", run_name="__main__", alter_sys=True)
"""


def crib(args: list[str], env: dict, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-X", "dev", "-c", CRIB_THEN_CHECK, *args], env=env,
                          cwd=cwd, text=True, capture_output=True, timeout=400)


@pytest.mark.parametrize("mode", ["skills", "dc-cu"])
def test_solve_closes_every_model_connection(scripted_server, tmp_path, mode):
    scripted_server.script(learner)
    env = crib_env(scripted_server.url, tmp_path / "data")
    env["PYTHONWARNINGS"] = "always"
    r = crib(["solve", "--domain", "game24", "--limit", "4", "--seed", "2", "--agent",
              "program-of-thought", "--loop", "retry", "--memory", mode, "--cold", "2",
              "--concurrency", "2", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["n"] == 4 and summary["accuracy"] == 1.0
    curations = [q for q in scripted_server.chat_requests if '"operations"' in prompt(q.body)]
    # the model client was used: by the solver, and in dc-cu by the curator's completer
    assert len(curations) == (4 if mode == "dc-cu" else 0)
    # (the script guesses before it writes a solver: at least one call a problem)
    assert scripted_server.served == summary["calls"] >= 4 + len(curations)
    assert not [u for u in UNCLOSED if u in r.stderr], r.stderr[-3000:]
