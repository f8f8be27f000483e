"""`crib solve` end to end through the real CLI, sandbox and database, on the scripted server."""
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from crib.agents.domains.game24 import solve as solve24
from tests.scripted_server import Reply

NUMBERS = re.compile(r"Use the numbers ([\d ]+) to make 24")


def game24_solver(body: dict) -> Reply:
    """Plays a perfect model: answers every LLMAgentBase JSON request with a right expression."""
    text = "\n".join(str(m.get("content", "")) for m in body["messages"])
    found = NUMBERS.findall(text)
    expression = solve24([int(x) for x in found[-1].split()]) if found else "1 + 1"
    return Reply(text=json.dumps({"thinking": "search all orders",
                                  "answer": f"Answer: {expression}"}))


def crib_env(server_url: str, data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRIB_", "OPENAI_"))}
    env.update(CRIB_DATA_DIR=str(data_dir), OPENAI_BASE_URL=server_url, CRIB_LLM__MODEL="scripted",
               OPENAI_API_KEY="sk-test-never-leaks-0123456789", NO_COLOR="1")
    return env


def crib(args: list[str], env: dict, cwd: Path,
         timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crib", *args], env=env, cwd=cwd, text=True,
                          capture_output=True, timeout=timeout)


def test_solve_reports_accuracy_and_writes_each_problem_once(scripted_server, tmp_path):
    scripted_server.script(game24_solver)
    env = crib_env(scripted_server.url, tmp_path / "data")
    out = tmp_path / "results.jsonl"
    r = crib(["solve", "--domain", "game24", "--limit", "4", "--seed", "3", "--agent", "cot",
              "--memory", "none", "--out", str(out), "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr + (out.read_text() if out.exists() else "")
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("run_id", "n", "accuracy", "ci_low", "ci_high", "calls", "tokens_in", "tokens_out",
                "cost_usd", "wall_s", "errors"):
        assert key in summary
    assert summary["n"] == 4 and summary["accuracy"] == 1.0 and summary["errors"] == 0
    assert summary["calls"] == scripted_server.served == 4
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len({o["problem_id"] for o in lines}) == 4 and all(o["score"] == 1.0 for o in lines)
    assert "sk-test-never-leaks" not in r.stdout + r.stderr + out.read_text()


def test_summary_counts_the_requests_retries_sent(scripted_server, tmp_path):
    """`calls` counts the calls the agents made, `requests` what was sent: retries included."""
    failures = [Reply.error(500), Reply.rate_limited(retry_after=0), Reply.error(502)]
    scripted_server.script(lambda body: failures.pop(0) if failures else game24_solver(body))
    env = crib_env(scripted_server.url, tmp_path / "data")
    r = crib(["solve", "--domain", "game24", "--limit", "4", "--agent", "cot", "--memory", "none",
              "--run-id", "retried"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert re.search(r"calls\W+4 \(0 cached\)", r.stdout), r.stdout  # table cells: "│"
    assert re.search(r"requests\W+7\b", r.stdout), r.stdout
    with sqlite3.connect(tmp_path / "data" / "crib.db") as db:  # what --json prints
        stored = db.execute("SELECT summary FROM runs WHERE id = 'retried'").fetchone()[0]
    summary = json.loads(stored)
    assert summary["calls"] == 4 and summary["requests"] == scripted_server.served == 7


def test_kill_minus_9_then_resume_counts_every_problem_once(scripted_server, tmp_path):
    def slow(body):
        reply = game24_solver(body)
        reply.delay_s = 0.4
        return reply

    scripted_server.script(slow)
    env = crib_env(scripted_server.url, tmp_path / "data")
    out = tmp_path / "results.jsonl"
    args = ["solve", "--domain", "game24", "--limit", "8", "--agent", "cot", "--memory", "none",
            "--concurrency", "1", "--out", str(out), "--run-id", "killme"]
    proc = subprocess.Popen([sys.executable, "-m", "crib", *args], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if out.exists() and len(out.read_text().splitlines()) >= 3:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(out.read_text().splitlines())
    assert 3 <= done_before < 8, "the kill should land mid-run"
    # A line is written only once its result row is committed.
    with sqlite3.connect(tmp_path / "data" / "crib.db") as db:
        committed = {r[0] for r in
                     db.execute("SELECT problem_id FROM results WHERE run_id = 'killme'")}
    assert {json.loads(line)["problem_id"] for line in out.read_text().splitlines()} <= committed

    r = crib(["solve", "--resume", "killme", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    ids = [json.loads(line)["problem_id"] for line in out.read_text().splitlines()]
    assert summary["n"] == 8 and len(ids) == 8 and len(set(ids)) == 8
    assert summary["accuracy"] == 1.0
    # SQL agrees: one result and one attempt per problem (written together), no duplicates.
    with sqlite3.connect(tmp_path / "data" / "crib.db") as db:
        results = db.execute("SELECT problem_id FROM results WHERE run_id = 'killme'").fetchall()
        attempts = db.execute(
            "SELECT problem_id, calls FROM attempts WHERE run_id = 'killme'").fetchall()
        ledger = db.execute("SELECT count(*) FROM llm_calls WHERE run_id = 'killme'").fetchone()[0]
    assert sorted(r[0] for r in results) == sorted(ids)
    assert sorted(a[0] for a in attempts) == sorted(ids) and all(a[1] == 1 for a in attempts)
    assert summary["calls"] == ledger >= 8  # the ledger also holds calls of the killed problem


def test_broken_dataset_line_is_named_and_stops_before_any_work(scripted_server, tmp_path):
    scripted_server.script(game24_solver)
    data = tmp_path / "puzzles.jsonl"
    data.write_text('{"id": "a", "input": "4 4 6 8"}\n{"id": "b", "input": \n'
                    '{"id": "c", "input": "1 2 3 4"}\n')
    env = crib_env(scripted_server.url, tmp_path / "data")
    r = crib(["solve", str(data), "--domain", "game24", "--agent", "cot", "--memory", "none"],
             env, tmp_path)
    assert r.returncode == 2
    assert "puzzles.jsonl:2" in r.stderr and scripted_server.served == 0

    r = crib(["solve", str(data), "--domain", "game24", "--agent", "cot", "--memory", "none",
              "--skip-bad-lines", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["n"] == 2 and summary["skipped_lines"] == 1


def test_budget_stops_cleanly_and_resume_finishes(scripted_server, tmp_path):
    scripted_server.script(game24_solver)
    env = crib_env(scripted_server.url, tmp_path / "data")
    base = ["solve", "--domain", "game24", "--limit", "5", "--agent", "cot", "--memory", "none",
            "--concurrency", "1", "--run-id", "budgeted"]
    r = crib(base + ["--budget-tokens", "300"], env, tmp_path)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "budget" in r.stderr.lower() and "--resume" in r.stderr
    served = scripted_server.served
    assert 0 < served < 5
    r = crib(["solve", "--resume", "budgeted", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["n"] == 5 and summary["errors"] == 0


def test_ctrl_c_keeps_finished_problems_and_says_how_to_resume(scripted_server, tmp_path):
    def slow(body):
        reply = game24_solver(body)
        reply.delay_s = 0.5
        return reply

    scripted_server.script(slow)
    env = crib_env(scripted_server.url, tmp_path / "data")
    proc = subprocess.Popen([sys.executable, "-m", "crib", "solve", "--domain", "game24",
                             "--limit", "20", "--agent", "cot", "--memory", "none",
                             "--concurrency", "1", "--run-id", "intr"],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 180
    while scripted_server.served < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted" in err and "--resume" in err
    r = crib(["solve", "--resume", "intr", "--limit", "20", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["n"] == 20


def test_retry_errors_replaces_the_errored_problems_rows(scripted_server, tmp_path):
    """A resumed run writes over rows it already holds (`--retry-errors` solves errored
    problems again): one result and one attempt per problem in the end, JSONL and SQL alike."""
    broken = {"on": True}

    def flaky(body):
        text = "\n".join(str(m.get("content", "")) for m in body["messages"])
        if broken["on"] and NUMBERS.findall(text)[-1].strip().endswith(("1", "3", "5", "7", "9")):
            return Reply(text="no JSON here")  # the agent's reply cannot be parsed: an error
        # (--cache off below: a rerun must ask the server again, not replay this reply)
        return game24_solver(body)

    scripted_server.script(flaky)
    env = crib_env(scripted_server.url, tmp_path / "data")
    out = tmp_path / "results.jsonl"
    r = crib(["solve", "--domain", "game24", "--limit", "12", "--agent", "cot", "--memory", "none",
              "--cache", "off", "--out", str(out), "--run-id", "flaky", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    errors = json.loads(r.stdout.strip().splitlines()[-1])["errors"]
    assert 0 < errors < 12, "some problems should have failed"

    broken["on"] = False
    r = crib(["solve", "--resume", "flaky", "--retry-errors", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["n"] == 12 and summary["errors"] == 0
    ids = [json.loads(line)["problem_id"] for line in out.read_text().splitlines()]
    assert len(ids) == 12 and len(set(ids)) == 12
    with sqlite3.connect(tmp_path / "data" / "crib.db") as db:
        results = db.execute(
            "SELECT problem_id, error FROM results WHERE run_id = 'flaky'").fetchall()
        attempts = db.execute(
            "SELECT problem_id, error FROM attempts WHERE run_id = 'flaky'").fetchall()
    assert sorted(r[0] for r in results) == sorted(ids) and all(r[1] is None for r in results)
    assert sorted(a[0] for a in attempts) == sorted(ids) and all(a[1] is None for a in attempts)


def no_traceback(r: subprocess.CompletedProcess) -> bool:
    return "Traceback" not in r.stdout + r.stderr


def test_a_broken_agent_file_stops_before_any_work(scripted_server, tmp_path):
    """Parsed, never run: the error and its line, exit 2, and no model call."""
    scripted_server.script(game24_solver)
    env = crib_env(scripted_server.url, tmp_path / "data")
    syntax = tmp_path / "syntax.py"
    syntax.write_text("def forward(self, taskInfo):\n    return (1 +\n")
    no_forward = tmp_path / "helper.py"
    no_forward.write_text("def solve(task):\n    return 24\n")
    for agent, said in ((syntax, "syntax error on line 2"), (no_forward, "no top-level")):
        r = crib(["solve", "--domain", "game24", "--limit", "3", "--agent", str(agent),
                  "--memory", "none"], env, tmp_path)
        assert r.returncode == 2 and said in r.stderr and no_traceback(r), r.stderr
    assert scripted_server.served == 0
    db = tmp_path / "data" / "crib.db"
    if db.exists():  # checked before the database is opened, so usually there is none
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_markup_in_names_and_lines_is_printed_as_written(scripted_server, tmp_path):
    """A dataset named or holding `[/a]`, and a run id holding `[/b]`, print as written."""
    scripted_server.script(game24_solver)
    env = crib_env(scripted_server.url, tmp_path / "data")
    (tmp_path / "odd [").mkdir()
    data = tmp_path / "odd [/a] name.jsonl"  # a folder "odd [" holding "a] name.jsonl"
    data.write_text('{"id": "a", "input": "4 4 6 8"}\n{"id": "b", "input": "[/a] 1 2"}\n')
    r = crib(["solve", str(data), "--domain", "game24", "--memory", "none"], env, tmp_path)
    assert r.returncode == 2 and no_traceback(r), r.stderr
    assert "odd [/a] name.jsonl:2" in r.stderr and "'[/a] 1 2'" in r.stderr

    r = crib(["solve", "--domain", "game24", "--limit", "2", "--memory", "none",
              "--run-id", "mine [/b]"], env, tmp_path)
    assert r.returncode == 0 and no_traceback(r), r.stderr
    assert "mine [/b]" in r.stderr and "mine [/b]" in r.stdout


def test_a_huge_dataset_line_is_quoted_short(scripted_server, tmp_path):
    """A 20 MB line used to hang the terminal renderer: the message quotes only its start."""
    env = crib_env(scripted_server.url, tmp_path / "data")
    data = tmp_path / "big.jsonl"
    data.write_text(json.dumps({"input": "1 2 3 " + "x" * 20_000_000}) + "\n")
    r = crib(["solve", str(data), "--domain", "game24", "--memory", "none"], env, tmp_path)
    assert r.returncode == 2 and "big.jsonl:1" in r.stderr and no_traceback(r)
    assert "more characters" in r.stderr and len(r.stderr) < 5_000


def test_bad_paths_are_usage_errors(scripted_server, tmp_path):
    env = crib_env(scripted_server.url, tmp_path / "data")
    folder = tmp_path / "adir"
    folder.mkdir()
    r = crib(["solve", str(folder), "--domain", "game24"], env, tmp_path)
    assert r.returncode == 2 and "is a directory" in r.stderr and no_traceback(r)
    r = crib(["solve", "--domain", "game24", "--limit", "1", "--out", str(folder)], env, tmp_path)
    assert r.returncode == 2 and "is a directory" in r.stderr and no_traceback(r)
    assert list(tmp_path.glob("*.tmp")) == []
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    r = crib(["solve", str(empty), "--domain", "game24"], env, tmp_path)
    assert r.returncode == 2 and "holds no problems" in r.stderr and no_traceback(r)
    assert scripted_server.served == 0


def test_summary_fits_80_columns_and_resume_warns_of_ignored_flags(scripted_server, tmp_path):
    scripted_server.script(game24_solver)
    env = crib_env(scripted_server.url, tmp_path / "data")
    r = crib(["solve", "--domain", "game24", "--limit", "3", "--memory", "none",
              "--run-id", "narrow"], env, tmp_path)  # stdout is a pipe: Rich's 80 columns
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert any("accuracy" in line and "100.0%" in line for line in lines), r.stdout
    assert "…" not in r.stdout

    r = crib(["solve", "--resume", "narrow", "--limit", "9", "--agent", "debate"], env, tmp_path)
    assert r.returncode == 0 and "--agent, --limit ignored with --resume" in r.stderr
