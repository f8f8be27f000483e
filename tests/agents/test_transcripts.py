"""Transcripts on real SQLite and PostgreSQL: what the LLM's recorder, the loop and the
sandbox record; shared texts stored once; no secret ever stored; stats and pruning."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from crib.agents.llm import LLM, Backoff, ModelSettings
from crib.agents.transcript_query import attempt_events, events, prune, transcript_stats
from crib.agents.transcripts import REDACTED, TranscriptStore, TranscriptTextRow, redact
from crib.agents.verdict import Verdict

SECRET = "sk-transcript-secret-0123456789abcdef"
SYSTEM = "You are a careful solver. " * 40  # a long prompt every call repeats


def make_llm(engine, url: str, store: TranscriptStore) -> LLM:
    settings = ModelSettings(model="scripted-model", base_url=url, temperature=0.0,
                             max_tokens=32, concurrency=4, timeout_s=10, max_retries=1)
    llm = LLM(engine, {"solver": settings}, run_id="run-t", backoff=Backoff(base_s=0.01),
              recorder=store)
    store.share_writer(llm.writer)
    return llm


def record_some(engine, url: str, monkeypatch) -> TranscriptStore:
    """Three calls (one a cache hit) with the secret in a message, then a sandbox run, two
    verdicts and the memory of one attempt."""
    monkeypatch.setenv("CRIB_TEST_API_KEY", SECRET)
    store = TranscriptStore(engine)
    llm = make_llm(engine, url, store)

    async def calls():
        for question in ("2+2?", "3+3?", "2+2?"):
            messages = [{"role": "system", "content": SYSTEM},
                        {"role": "user", "content": f"{question} my key is {SECRET}"}]
            await llm.complete(messages, attempt_id="run-t:a:0", run_id="run-t")
        await llm.aclose()

    asyncio.run(calls())

    class Result:  # the fields of a sandbox RunResult the store reads
        ok, exit_code, stdout, stderr, value, error = True, 0, "printed\n", "", "4", None
        limit_hit, wall_ms, cpu_ms = None, 12.5, 3.0

    store.sandbox_run("run-t", "run-t:a:0", code="def forward(task):\n    return '4'\n",
                      result=Result(), inputs=f"task with {SECRET}")
    store.verdicts("run-t", "run-t:a:0", [Verdict(passed=True, score=1.0, verifier="checker",
                                                  feedback="right"),
                                          Verdict(passed=None, verifier="judge", feedback="?")])
    store.memory("run-t", "run-t:a:0", entry_ids=["m-1"], cheatsheet="# Cheatsheet\nbe exact",
                 version=3)
    store.flush()
    return store


def all_text(engine) -> str:
    with engine.connect() as conn:
        texts = " ".join(t for (t,) in conn.execute(select(TranscriptTextRow.text)))
        data = " ".join(str(d) for (d,) in conn.execute(text("SELECT data FROM transcript_events")))
    return texts + data


def check_recorded(engine, scripted_server, monkeypatch) -> None:
    scripted_server.script(lambda body: "four" if "2+2" in str(body["messages"]) else "six")
    record_some(engine, scripted_server.url, monkeypatch)
    got = attempt_events(engine, "run-t:a:0")
    assert [e["kind"] for e in got] == ["call"] * 3 + ["sandbox", "verdict", "verdict", "memory"]
    first, second, hit = got[:3]
    assert first["role"] == "solver" and first["model"] == "scripted-model"
    assert first["messages"][0] == {"role": "system", "content": SYSTEM}
    assert first["messages"][1]["content"] == f"2+2? my key is {REDACTED}"
    assert first["reply"] == "four" and second["reply"] == "six"
    assert first["params"]["max_tokens"] == 32 and first["params"]["temperature"] == 0.0
    assert first["tokens_in"] > 0 and first["latency_ms"] > 0 and not first["cached"]
    assert hit["cached"] and hit["reply"] == "four"
    sandbox, passed, unknown, memory = got[3:]
    assert sandbox["code"].startswith("def forward") and sandbox["stdout"] == "printed\n"
    assert sandbox["result"] == "4" and sandbox["exit_code"] == 0
    assert sandbox["input"] == f"task with {REDACTED}"
    assert (passed["verifier"], passed["passed"], passed["feedback"]) == ("checker", True, "right")
    assert unknown["passed"] is None
    assert memory["entry_ids"] == ["m-1"] and memory["cheatsheet"].endswith("be exact")
    assert SECRET not in all_text(engine)
    stats = transcript_stats(engine)
    assert stats.events == {"call": 3, "sandbox": 1, "verdict": 2, "memory": 1}
    # The long system prompt went out three times and is stored once.
    assert stats.referenced_chars >= stats.text_chars + 2 * len(SYSTEM)


def test_recorded_on_sqlite_compact_and_without_secrets(tmp_path, scripted_server, monkeypatch):
    from crib.storage import open_database

    engine = open_database(f"sqlite:///{tmp_path / 'crib.db'}")
    try:
        check_recorded(engine, scripted_server, monkeypatch)
        engine.dispose()
        for path in (p for p in tmp_path.glob("crib.db*") if p.is_file()):  # the file, its WAL
            assert SECRET.encode() not in path.read_bytes(), path
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_recorded_on_postgresql(postgres_server, scripted_server, monkeypatch):
    from crib.storage import open_database

    engine = open_database(postgres_server.new_database())  # its own: counts start at zero
    try:
        check_recorded(engine, scripted_server, monkeypatch)
        done = prune(engine, datetime.now(timezone.utc) + timedelta(seconds=1), run_id="run-t")
        assert done.events == 7 and transcript_stats(engine).texts == 0
    finally:
        engine.dispose()


def test_prune_keeps_texts_other_events_still_use(tmp_path, scripted_server, monkeypatch):
    from crib.storage import open_database

    engine = open_database(f"sqlite:///{tmp_path / 'crib.db'}")
    try:
        scripted_server.script(lambda body: "ok")
        record_some(engine, scripted_server.url, monkeypatch)
        other = TranscriptStore(engine)  # another run sharing the system prompt
        other.record({"run_id": "run-u", "attempt_id": None, "role": "solver", "model": "m",
                      "messages": [{"role": "system", "content": SYSTEM}], "params": {},
                      "text": "kept", "tokens_in": 1, "tokens_out": 1, "latency_ms": 1.0,
                      "cached": False})
        other.flush()
        done = prune(engine, datetime.now(timezone.utc) + timedelta(seconds=1), run_id="run-t")
        assert done.events == 7 and done.texts > 0
        assert attempt_events(engine, "run-t:a:0") == []
        left = events(engine, run_id="run-u")
        assert [m["content"] for m in left[0]["messages"]] == [SYSTEM]
        assert left[0]["reply"] == "kept"
        # Nothing older than an hour: a prune of that age removes nothing.
        assert prune(engine, datetime.now(timezone.utc) - timedelta(hours=1)).events == 0
    finally:
        engine.dispose()


def test_redact_removes_secret_values_and_key_shapes(monkeypatch):
    assert redact("key sk-abcdefghijklmnop1234 here", []) == f"key {REDACTED} here"
    assert redact("Authorization: Bearer abcdefghijklmnopqrstu", []) == (
        f"Authorization: {REDACTED}")
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "plainvalue123")
    assert redact("it was plainvalue123.") == f"it was {REDACTED}."
    assert redact("nothing secret here") == "nothing secret here"


def test_the_loop_records_the_agent_run_the_verifiers_runs_and_verdicts(tmp_path,
                                                                        scripted_server):
    """A real attempt: the agent's sandbox run, the snippet it ran with run_python, its model
    call, a verifier that runs a snippet in the sandbox (recorded as the attempt's), and the
    verdicts."""
    from crib.agents.domains.game24 import Game24
    from crib.agents.library import load_agent
    from crib.agents.loop import LoopPolicy, SolveContext, solve_problem
    from crib.agents.problems import Problem
    from crib.sandbox import Limits, Sandbox
    from crib.storage import open_database

    class RunsASnippet:
        name, needs_samples = "snippet-check", False

        async def verify(self, problem, answer, ctx):
            r = await ctx.sandbox.run("print(6 * 4)", tier="snippet",
                                      limits=Limits(timeout_s=60))
            return Verdict(passed=r.stdout.strip() == "24", score=1.0, verifier=self.name,
                           feedback=f"the snippet printed {r.stdout.strip()}")

    scripted_server.script(lambda body: "Answer: 4 * 5 - (6 - 10)")
    engine = open_database(f"sqlite:///{tmp_path / 'crib.db'}")
    sandbox = Sandbox()
    try:
        store = TranscriptStore(engine)
        llm = make_llm(engine, scripted_server.url, store)
        spec = load_agent({"name": "ask", "code": 'def forward(task):\n'
                                                  '    run_python("print(2 + 3)")\n'
                                                  '    return llm(task + answer_format)\n'})
        ctx = SolveContext(llm=llm, sandbox=sandbox, run_id="run-t", engine=engine,
                           limits=Limits(timeout_s=60))

        async def one_problem():
            try:
                return await solve_problem(Problem(id="p1", input="4 5 6 10"), Game24(), spec,
                                           ctx, LoopPolicy(kind="single"),
                                           verifiers=[RunsASnippet()])
            finally:
                await llm.aclose()

        out = asyncio.run(one_problem())
        store.flush()
        got = attempt_events(engine, out.attempts[0].id)
        kinds = [e["kind"] for e in got]
        assert kinds.count("call") == 1 and kinds.count("verdict") == 1
        agent_run, nested, snippet = [e for e in got if e["kind"] == "sandbox"]
        assert agent_run["tier"] == "agent" and "return llm(task" in agent_run["code"]
        assert (nested["tier"], nested["code"], nested["stdout"], nested["ok"]) == (
            "snippet", "print(2 + 3)", "5\n", True)
        assert agent_run["result"].startswith("Answer: 4 * 5")
        assert (snippet["tier"], snippet["code"], snippet["stdout"]) == (
            "snippet", "print(6 * 4)", "24\n")
        verdict = next(e for e in got if e["kind"] == "verdict")
        assert verdict["passed"] is True and verdict["feedback"] == "the snippet printed 24"
    finally:
        sandbox.close()
        engine.dispose()


def test_the_last_attempts_trace_reads_its_last_program_or_its_reply(tmp_path, scripted_server):
    """What a search designer reads beside a failed answer: the last attempt's last program
    and how it failed; for an agent that ran none, the end of its last reply; nothing for a
    problem never attempted."""
    from crib.agents.domains.game24 import Game24
    from crib.agents.library import load_agent
    from crib.agents.loop import LoopPolicy, SolveContext, solve_problem
    from crib.agents.problems import Problem
    from crib.agents.transcript_query import last_attempt_trace
    from crib.sandbox import Limits, Sandbox
    from crib.storage import open_database

    replies = iter(["Answer: 1 + 1", "Answer: 2 + 2 + 1", "Answer: 3 * 3"])
    scripted_server.script(lambda body: next(replies))
    engine = open_database(f"sqlite:///{tmp_path / 'crib.db'}")
    sandbox = Sandbox()
    runs = load_agent({"name": "runs", "code": 'def forward(task):\n'
                                               '    run_python("print(6 * 4)")\n'
                                               '    run_python("print(total)")\n'
                                               '    return llm(task + answer_format)\n'})
    asks = load_agent({"name": "asks", "code": 'def forward(task):\n'
                                               '    return llm("Solve: " + task)\n'})
    try:
        store = TranscriptStore(engine)
        llm = make_llm(engine, scripted_server.url, store)
        ctx = SolveContext(llm=llm, sandbox=sandbox, run_id="run-t", engine=engine,
                           limits=Limits(timeout_s=60))

        async def solve():
            try:
                for spec, policy in ((runs, LoopPolicy(kind="single")),
                                     (asks, LoopPolicy(kind="retry", k=2))):
                    await solve_problem(Problem(id="p1", input="4 5 6 10"), Game24(), spec,
                                        ctx, policy)
            finally:
                await llm.aclose()

        asyncio.run(solve())
        store.flush()
        ran = last_attempt_trace(engine, run_id="run-t", problem_id="p1",
                                 agent_hash=runs.code_hash)
        assert ran.startswith("the last program it ran:\n```python\nprint(total)\n```\n")
        assert ran.endswith("NameError: name 'total' is not defined")
        # The retry's second attempt is the last: its reply, not the first one's.
        assert last_attempt_trace(engine, run_id="run-t", problem_id="p1",
                                  agent_hash=asks.code_hash) == \
            "the end of its last reply: Answer: 3 * 3"
        assert last_attempt_trace(engine, run_id="run-t", problem_id="p2",
                                  agent_hash=asks.code_hash) is None
        assert last_attempt_trace(engine, run_id="other", problem_id="p1",
                                  agent_hash=asks.code_hash) is None
    finally:
        sandbox.close()
        engine.dispose()
