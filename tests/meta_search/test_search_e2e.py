"""Meta search end to end: real SQLite, the real sandbox, the scripted server playing the
meta-agent (a given candidate, a broken one, a fix) and the solver."""
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crib.meta_search.records import ArchiveEntryRow, EvaluationRow
from tests.meta_search.helpers import (BROKEN, FORBIDDEN, WRONG, Script, agent, proposal,
                                       run_search, search_config)

sandbox = pytest.importorskip("crib.sandbox")
if not hasattr(sandbox, "Sandbox"):
    pytest.skip("sandbox.Sandbox has not landed yet", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]


def _entries(engine, run_id):
    with Session(engine) as s:
        return list(s.scalars(select(ArchiveEntryRow).where(ArchiveEntryRow.run_id == run_id)
                              .order_by(ArchiveEntryRow.generation, ArchiveEntryRow.slot)))


def _no_duplicate_evaluations(engine):
    with Session(engine) as s:
        rows = s.execute(select(EvaluationRow.entry_id, EvaluationRow.split,
                                EvaluationRow.problem_id, func.count())
                         .group_by(EvaluationRow.entry_id, EvaluationRow.split,
                                   EvaluationRow.problem_id)).all()
    assert rows and all(n == 1 for *_, n in rows)


def test_cascade_fix_failure_and_duplicate(engine, scripted_server):
    script = Script(
        proposals={1: proposal("strong", agent(90, "strong")),
                   2: proposal("broken", BROKEN),
                   3: proposal("forbidden", FORBIDDEN),
                   4: proposal("copy", agent(90, "strong"))},
        fixes={"broken": ["not json", proposal("broken", agent(100, "fixed"))],
               "forbidden": [proposal("forbidden", FORBIDDEN)]})
    scripted_server.script(script)
    search, result = asyncio.run(run_search(engine, scripted_server.url, "s1",
                                            search_config(generations=4)))
    assert result.status == "done" and result.generations_done == 4
    by_gen = {e.generation: e for e in _entries(engine, "s1")}
    assert by_gen[0].name == "cot" and by_gen[0].status == "evaluated"
    assert by_gen[1].status == "evaluated"
    fixed = by_gen[2]
    # Round 1's reply was unusable: it spent the round, and round 2 fixed the code.
    assert fixed.debug_rounds == 2 and fixed.status in ("evaluated", "minibatch")
    assert "skill=100" in fixed.code and "NameError" in json.dumps(fixed.history)
    assert any("unusable_reply" in step for step in fixed.history)
    failed = by_gen[3]
    assert failed.status == "rejected" and "after 3 debug rounds" in failed.reason
    assert "import of subprocess" in failed.reason
    dup = by_gen[4]
    assert dup.status == "rejected" and dup.duplicate_of == by_gen[1].id
    # Selection uses validation; every candidate kept with a reason.
    assert all(e.reason for e in _entries(engine, "s1"))
    spend = result.spend["by_role"]
    assert spend["meta"]["calls"] > 0 and spend["solver"]["calls"] > 0
    _no_duplicate_evaluations(engine)


def test_weak_candidate_is_not_promoted(engine, scripted_server):
    script = Script(proposals={1: proposal("weak", agent(0, "weak")),
                               2: proposal("zero", WRONG)},
                    fixes={"zero": [proposal("zero", WRONG)]})
    scripted_server.script(script)
    config = search_config(generations=2, val_size=16,
                           cascade={"minibatch": 8, "zero_is_failure": False})
    asyncio.run(run_search(engine, scripted_server.url, "s2", config))
    by_gen = {e.generation: e for e in _entries(engine, "s2")}
    assert by_gen[0].status == "evaluated"
    for g in (1, 2):
        assert by_gen[g].status == "minibatch", by_gen[g].reason
        assert "not promoted" in by_gen[g].reason
        with Session(engine) as s:
            n = s.scalar(select(func.count()).select_from(EvaluationRow).where(
                EvaluationRow.entry_id == by_gen[g].id, EvaluationRow.split == "validation"))
        assert n == 8  # the minibatch only, never the full 16


def test_budget_stops_and_resume_continues(engine, scripted_server):
    script = Script(proposals={g: proposal(f"a{g}", agent(40 + 10 * g, f"a{g}"))
                               for g in range(1, 4)})
    scripted_server.script(script)
    config = search_config(generations=3)
    _, stopped = asyncio.run(run_search(engine, scripted_server.url, "s3", config,
                                        llm_options={"budget_tokens": 1500}))
    assert stopped.status == "stopped" and "budget" in stopped.stop_reason
    _, done = asyncio.run(run_search(engine, scripted_server.url, "s3", config))
    assert done.status == "done" and done.generations_done == 3
    gens = [(e.generation, e.slot) for e in _entries(engine, "s3")]
    assert gens == [(0, 0), (1, 0), (2, 0), (3, 0)]
    _no_duplicate_evaluations(engine)


def test_resume_after_kill_9_has_no_duplicates(tmp_path, scripted_server):
    from crib.storage import open_database

    script = Script(proposals={g: proposal(f"k{g}", agent(30 + 20 * g, f"k{g}"))
                               for g in range(1, 3)}, delay_s=0.05)
    scripted_server.script(script)
    db = f"sqlite:///{tmp_path / 'kill.db'}"
    engine = open_database(db)
    cmd = [sys.executable, "-m", "tests.meta_search.search_proc", db, scripted_server.url, "k1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    with Session(engine) as s:
        while time.monotonic() < deadline:
            gen1 = s.scalar(select(func.count()).select_from(ArchiveEntryRow).where(
                ArchiveEntryRow.generation >= 1))
            if gen1:
                break
            time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert gen1, "the search never reached generation 1 before the deadline"
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "done" and result["generations_done"] == 2
    entries = _entries(engine, "k1")
    assert [(e.generation, e.slot) for e in entries] == [(0, 0), (1, 0), (2, 0)]
    _no_duplicate_evaluations(engine)
    # The same search uninterrupted gives the same archive and scores.
    clean = open_database(f"sqlite:///{tmp_path / 'clean.db'}")
    asyncio.run(run_search(clean, scripted_server.url, "k1",
                           search_config(generations=2, val_size=6)))
    a = [(e.name, e.status, e.code_hash) for e in entries]
    b = [(e.name, e.status, e.code_hash) for e in _entries(clean, "k1")]
    assert a == b, [(e.name, e.reason) for e in _entries(clean, "k1")]


ADAS_COT = '''def forward(self, taskInfo):
    # Instruction for the Chain-of-Thought (CoT) approach
    cot_instruction = "Please think step by step and then solve the task."
    cot_agent = LLMAgentBase(['thinking', 'answer'], 'Chain-of-Thought Agent')
    cot_agent_inputs = [taskInfo]
    thinking, answer = cot_agent(cot_agent_inputs, cot_instruction)
    return answer
'''


def test_adas_format_import_runs_a_cot_agent(engine, scripted_server, tmp_path):
    from crib.meta_search.adas_import import import_into, read_adas_archive
    from crib.meta_search.archive import Archive

    path = tmp_path / "adas.json"
    path.write_text(json.dumps([{"thought": "CoT", "name": "Chain-of-Thought", "code": ADAS_COT,
                                 "fitness": "95% Bootstrap Confidence Interval: (10.0%, 20.0%),"
                                            " Median: 15.0%", "generation": "initial"}]))
    scripted_server.script(Script(proposals={}))
    config = search_config(generations=0, seeds=[])
    from crib.meta_search.search import create_run

    create_run(engine, "imp", config)
    archive = Archive(engine, "imp")
    [entry] = import_into(archive, read_adas_archive(path))
    archive.update_run(seeded=1)
    _, result = asyncio.run(run_search(engine, scripted_server.url, "imp", config))
    entry = archive.entry(entry.id)
    assert entry.status == "evaluated" and entry.origin == "import"
    assert entry.val.n == 8 and entry.val.errors == 0 and entry.val.mean > 0
    assert result.best["name"] == "Chain-of-Thought"


def test_memory_aware_fitness_and_meta_lessons(engine, scripted_server):
    from crib.memory.store import MemoryStore

    script = Script(proposals={1: proposal("m1", agent(60, "m1")),
                               2: proposal("m2", agent(70, "m2"))})
    scripted_server.script(script)
    store = MemoryStore(engine)
    config = search_config(generations=2, val_size=6, memory="dc-cu", meta_memory=True,
                           cascade={"minibatch": 4, "zero_is_failure": False})
    _, result = asyncio.run(run_search(engine, scripted_server.url, "mem", config, store=store))
    assert result.status == "done"
    evaluated = [e for e in _entries(engine, "mem") if e.status == "evaluated"]
    assert evaluated
    from crib.meta_search.archive import Archive

    scopes = set()
    for row in evaluated:
        fit = Archive(engine, "mem").entry(row.id).val
        assert fit.cold is not None and fit.warm is not None  # first / second half accuracy
        scope = f"search:mem:entry{row.id}"
        assert store.entries(scope), f"no memory learned in {scope}"
        scopes.add(scope)
    assert len(scopes) == len(evaluated)  # a fresh scope per candidate
    lessons = [e.title for e in store.entries("search:mem:design")]
    assert "lesson from generation 1" in lessons
    gen2 = [r.body for r in scripted_server.chat_requests
            if "This is generation 2 of the search" in json.dumps(r.body)]
    assert gen2 and "lesson from generation 1" in json.dumps(gen2[0])
    assert result.spend["by_role"]["curator"]["calls"] > 0


def test_cli_search_test_and_resume(scripted_server, tmp_path):
    """`crib search --json`, `crib search test RUN`, `crib search --resume RUN` as users run
    them."""
    scripted_server.script(Script(proposals={1: proposal("strong", agent(90, "strong")),
                                             2: proposal("second", agent(80, "second"))}))
    env = dict(os.environ, OPENAI_BASE_URL=scripted_server.url, OPENAI_API_KEY="x",
               CRIB_LLM__MODEL="scripted-model", CRIB_DATA_DIR=str(tmp_path / "data"))
    crib = [sys.executable, "-m", "crib"]

    def run(*args):
        r = subprocess.run([*crib, *args], env=env, capture_output=True, text=True, cwd=ROOT,
                           timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout

    first = json.loads(run("search", "--domain", "game24", "--generations", "1", "--val-size",
                           "4", "--test-size", "2", "--seeds", "cot", "--minibatch", "2",
                           "--loop", "retry", "--json").strip().splitlines()[-1])
    assert first["status"] == "done" and first["generations_done"] == 1
    run_id = first["run_id"]
    lines = [json.loads(x) for x in run("search", "test", run_id, "--top", "2",
                                        "--json").splitlines()]
    rows = [r for r in lines if "comparison" not in r]  # the last line: against the best seed
    assert lines[-1]["comparison"]["seed"].endswith(" cot")
    assert rows[0]["selected"] and rows[0]["other_split"] == "test"
    assert all(r["other_n"] == 2 and r["val_n"] == 4 for r in rows)
    # Scored on test with the search's loop: a missed test problem had its retries.
    with sqlite3.connect(tmp_path / "data" / "crib.db") as db:
        missed = db.execute("SELECT calls FROM archive_evaluations WHERE split = 'test' AND "
                            "score < 1").fetchall()
    assert missed and all(calls == 3 for (calls,) in missed), missed
    moved = [json.loads(x) for x in run("search", "transfer", run_id, "--domain", "game24",
                                        "--top", "1", "--size", "3", "--json").splitlines()]
    assert moved[0]["other_split"] == "transfer:game24:same-model" and moved[0]["other_n"] == 3
    again = json.loads(run("search", "--resume", run_id, "--generations", "2",
                           "--json").strip().splitlines()[-1])
    assert again["run_id"] == run_id and again["generations_done"] == 2
    listed = [json.loads(x) for x in run("archive", "list", run_id, "--json").splitlines()]
    assert sorted(e["generation"] for e in listed) == [0, 1, 2]
