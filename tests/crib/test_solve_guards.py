"""Guards around a `crib solve` run, through the real CLI, sandbox and database: the early stop
when every model call fails the same way, the run lock, and the configured agent wall clock
(issue #18 items 2, 10 and 11)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import create_engine

from crib.run_lock import RunLock, RunLocked
from tests.crib.test_solve_cli import crib, crib_env, game24_solver
from tests.scripted_server import Reply


def test_a_batch_whose_calls_all_fail_stops_early_and_names_the_reason(scripted_server, tmp_path):
    scripted_server.script(lambda body: Reply.error(500, "model overloaded"))
    env = crib_env(scripted_server.url, tmp_path / "data")
    env["CRIB_LLM__MAX_RETRIES"] = "0"
    args = ["solve", "--domain", "game24", "--limit", "24", "--agent", "cot", "--memory", "none",
            "--concurrency", "2", "--run-id", "failing", "--json"]
    r = crib(args, env, tmp_path)
    assert r.returncode == 1, r.stderr
    summary = json.loads(r.stdout.splitlines()[-1])
    assert summary["status"] == "stopped" and 6 <= summary["n"] < 24
    assert summary["top_errors"][0][1] == summary["errors"] == summary["n"]
    assert "HTTP 500: model overloaded" in summary["top_errors"][0][0]
    assert "stopped early: the last 6 problems failed the same way" in r.stderr
    assert "most frequent errors" in r.stderr and "--resume failing --retry-errors" in r.stderr

    scripted_server.script(game24_solver)  # the endpoint is back: the rest is solved
    r = crib(["solve", "--resume", "failing", "--retry-errors", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.splitlines()[-1])
    assert summary["n"] == 24 and summary["errors"] == 0 and summary["status"] == "done"


def test_an_endpoint_that_goes_down_mid_run_stops_the_batch_at_once(scripted_server, tmp_path):
    scripted_server.script(game24_solver)
    env = crib_env(scripted_server.url, tmp_path / "data")
    env["CRIB_LLM__MAX_RETRIES"] = "0"
    proc = subprocess.Popen(
        [sys.executable, "-m", "crib", "solve", "--domain", "game24", "--limit", "24", "--agent",
         "cot", "--memory", "none", "--concurrency", "1", "--json"],
        env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while scripted_server.served < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        # The endpoint breaks mid-run: calls and its model list fail alike.
        scripted_server.models_status = 503
        scripted_server.script(lambda body: Reply.error(503, "server shutting down"))
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    summary = json.loads(stdout.splitlines()[-1])
    # Stopped at the first failed problem (the streak rule alone would wait for 6).
    assert summary["status"] == "stopped" and 1 <= summary["errors"] < 6
    assert summary["stopped_because"].startswith("the model endpoint stopped answering: "
                                                 "the model endpoint http://127.0.0.1")
    assert "is failing (HTTP 503" in summary["stopped_because"]
    assert "stopped early: the model endpoint stopped answering" in stderr


def test_a_hung_endpoint_is_found_while_its_calls_still_wait(scripted_server, tmp_path):
    release = threading.Event()

    def hang_after_two(body):
        if scripted_server.served >= 2:  # then every call hangs, and the model list fails
            scripted_server.models_status = 503
            release.wait(120)
        return game24_solver(body)

    scripted_server.script(hang_after_two)
    env = crib_env(scripted_server.url, tmp_path / "data")
    env.update(CRIB_LLM__MAX_RETRIES="0", CRIB_LLM__TIMEOUT_S="20")  # probed after 10 s idle
    try:
        r = crib(["solve", "--domain", "game24", "--limit", "24", "--agent", "cot", "--memory",
                  "none", "--concurrency", "1", "--json"], env, tmp_path)
    finally:
        release.set()
    assert r.returncode == 1, r.stderr
    summary = json.loads(r.stdout.splitlines()[-1])
    # Stopped by the stall probe while the third call was still waiting: no call failed yet.
    assert summary["status"] == "stopped" and summary["n"] == 2 and summary["errors"] == 0
    assert "is failing (HTTP 503" in summary["stopped_because"]


def test_a_second_resume_of_a_run_being_worked_on_is_refused(scripted_server, tmp_path):
    release = threading.Event()

    def held(body):  # the first run's first call waits until the second process was refused
        release.wait(120)
        return game24_solver(body)

    scripted_server.script(held)
    env = crib_env(scripted_server.url, tmp_path / "data")
    first = subprocess.Popen(
        [sys.executable, "-m", "crib", "solve", "--domain", "game24", "--limit", "4", "--agent",
         "cot", "--memory", "none", "--concurrency", "1", "--run-id", "busy", "--json"],
        env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not scripted_server.chat_requests and time.monotonic() < deadline:
            time.sleep(0.1)
        assert first.poll() is None, "the first run should be working"
        second = crib(["solve", "--resume", "busy"], env, tmp_path)
        assert second.returncode == 2, second.stderr
        assert "run 'busy' is being worked on by another crib process (pid" in second.stderr
        release.set()
        stdout, stderr = first.communicate(timeout=240)
    finally:
        release.set()
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, stderr
    assert json.loads(stdout.splitlines()[-1])["n"] == 4
    assert scripted_server.served == 4  # nothing was solved twice


HOLD = """
import sys, time
from sqlalchemy import create_engine
from crib.run_lock import RunLock
lock = RunLock(create_engine(sys.argv[1]), "r1").acquire()
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crib.db'}"
    return request.getfixturevalue("postgres_url")


def test_the_run_lock_holds_across_processes_and_dies_with_its_holder(database_url):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, database_url], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    engine = create_engine(database_url)
    try:
        assert holder.stdout.readline().strip() == "held", holder.stderr.read()
        with pytest.raises(RunLocked, match="run 'r1' is being worked on by another"):
            RunLock(engine, "r1").acquire()
        with RunLock(engine, "r2"):  # other runs are free
            pass
        os.kill(holder.pid, signal.SIGKILL)  # no clean-up: the lock must go with the process
        holder.wait(timeout=30)
        deadline = time.monotonic() + 30  # PostgreSQL notices the dead client's socket
        while True:
            try:
                with RunLock(engine, "r1"):
                    break
            except RunLocked:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with RunLock(engine, "r1"):  # released on exit: taken again at once
            pass
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
        engine.dispose()


def test_sandbox_timeout_bounds_an_agent_run(scripted_server, tmp_path):
    agent = tmp_path / "sleeper.py"
    agent.write_text('"""Sleeps instead of answering."""\n\n'
                     "def forward(task):\n    import time\n    time.sleep(1000)\n    return '1'\n")
    env = crib_env(scripted_server.url, tmp_path / "data")
    env["CRIB_SANDBOX__TIMEOUT_S"] = "3"
    out = tmp_path / "out.jsonl"
    r = crib(["solve", "--domain", "game24", "--limit", "1", "--agent", str(agent), "--memory",
              "none", "--out", str(out), "--json"], env, tmp_path, timeout=120)
    assert r.returncode == 1, r.stderr  # its only problem ended in an error
    [line] = [json.loads(x) for x in out.read_text().splitlines()]
    assert "wall-clock limit of 3.0 s" in line["error"]


def test_curating_where_nothing_can_verify_an_answer_says_so_before_the_run(scripted_server,
                                                                           tmp_path):
    """GSM8K with dc-cu and one sample: every curated entry stays quarantined, so the curator's
    call a problem buys nothing the solver sees; the user is told before spending it."""
    from crib.commands.solve import unverifiable_curation

    reply = json.dumps({"thinking": "2 + 2 = 4", "answer": "Answer: 4"})
    scripted_server.script(lambda body: Reply(reply))
    data = tmp_path / "sums.jsonl"
    data.write_text(json.dumps({"input": "What is 2 + 2?", "target": "4"}) + "\n")
    env = crib_env(scripted_server.url, tmp_path / "data")
    r = crib(["solve", str(data), "--domain", "math-numeric", "--agent", "cot", "--memory",
              "dc-cu", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "math-numeric has no checker" in r.stderr and "--loop vote" in r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["accuracy"] == 1.0

    assert unverifiable_curation("math-numeric", "dc-rs", "retry", gating=True)
    for quiet in (("game24", "dc-cu", "retry", True),  # a checker verifies
                  ("math-numeric", "dc-cu", "vote", True),  # agreement across samples does
                  ("math-numeric", "skills", "retry", True),  # no curator
                  ("math-numeric", "dc-cu", "retry", False),  # gating off: entries are shown
                  ("no-such-domain", "dc-cu", "retry", True)):  # the run reports that
        assert unverifiable_curation(*quiet[:3], gating=quiet[3]) is None, quiet
