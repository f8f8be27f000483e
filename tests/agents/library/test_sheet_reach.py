"""The sheet reaches the model, for every agent: under `--memory dc-cu` each seed agent's solver
calls carry the rendered sheet (first, unless the agent places it itself), under `--memory none`
nothing of it; counters move only for entries that were in a prompt of the attempt. Real
sandbox, real memory store (SQLite), the real MemoryHook crib wires, the scripted server."""
import asyncio

import pytest

from crib.agents.domains.game24 import Game24
from crib.agents.library import agent_names, load_agent
from crib.agents.llm import LLM, ModelSettings
from crib.agents.loop import LoopPolicy, SolveContext, solve_problem
from crib.agents.memory_hook import MemoryHook
from crib.agents.problems import Problem
from crib.memory.store import MemoryStore
from crib.sandbox import Limits
from crib.storage import open_database
from tests.agents.library.test_seed_agents import reply

MARKER = "MARKER-Q7: reach 24 as 4 * 6 or 3 * 8 first."
SCOPE = "game24"


@pytest.fixture
def world(tmp_path, scripted_server, sandbox):
    engine = open_database(f"sqlite:///{tmp_path}/t.db")
    store = MemoryStore(engine)
    entry = store.add(SCOPE, title="Aim for a factor pair", body=MARKER)

    def settings(model):  # one model name per role, so the server can tell the calls apart
        return ModelSettings(model=model, base_url=scripted_server.url, temperature=0.0,
                             max_tokens=512, max_retries=0, timeout_s=30)

    llm = LLM(engine, {"solver": settings("solver-model"), "judge": settings("judge-model"),
                       "curator": settings("curator-model")})
    scripted_server.script(reply)
    return store, entry, llm, sandbox


def solve(world, mode, agent, run_id="reach"):
    store, _entry, llm, sandbox = world
    hook = MemoryHook(store, mode=mode, scope=SCOPE, run_id=run_id, llm=llm)
    ctx = SolveContext(llm=llm, sandbox=sandbox, run_id=run_id, memory=hook,
                       limits=Limits(timeout_s=60))
    return asyncio.run(solve_problem(Problem(id="p", input="4 5 6 10"), Game24(), agent, ctx,
                                     LoopPolicy(kind="single")))


def requests(server, model):
    return [r.body["messages"] for r in server.chat_requests if r.body["model"] == model]


def text(messages):
    return "\n".join(m["content"] for m in messages)


@pytest.mark.parametrize("name", agent_names())
def test_every_seed_sends_the_sheet_under_dc_cu(name, world, scripted_server):
    store, entry, _llm, _sb = world
    out = solve(world, "dc-cu", load_agent(name))
    assert out.error is None and out.passed is True, out.error
    solver = requests(scripted_server, "solver-model")
    assert solver and all(text(m).count(MARKER) == 1 for m in solver), name  # once, every call
    if name != "dc-generator":  # it reads `cheatsheet` and places it in its user turn itself
        assert all(m[0]["role"] == "system" and m[0]["content"].startswith("# Cheatsheet")
                   for m in solver), name
    assert out.attempts[0].memory_entry_ids == [entry.id]
    after = store.get(entry.id)
    assert (after.used, after.helped, after.hurt) == (1, 1, 0)


@pytest.mark.parametrize("name", agent_names())
def test_no_seed_sends_a_sheet_under_none(name, world, scripted_server):
    store, entry, _llm, _sb = world
    out = solve(world, "none", load_agent(name))
    assert out.error is None and out.passed is True, out.error
    sent = [text(m) for r in ("solver-model", "judge-model", "curator-model")
            for m in requests(scripted_server, r)]
    assert sent and not any(MARKER in t or "# Cheatsheet" in t for t in sent), name
    assert out.attempts[0].memory_entry_ids == []
    assert store.get(entry.id).used == 0


def test_counters_stay_when_no_prompt_held_the_sheet(world, scripted_server):
    # The agent's only call is a judge call: no sheet goes in, so no entry was used.
    store, entry, _llm, _sb = world
    code = ('from crib_runtime import llm\n\n\ndef forward(task):\n'
            '    return llm(task, role="judge")\n')
    scripted_server.script(lambda body: "Answer: 4 * 5 - (6 - 10)")
    out = solve(world, "dc-cu", load_agent({"name": "judge-only", "code": code}))
    assert out.passed is True
    [judged] = requests(scripted_server, "judge-model")
    assert MARKER not in text(judged)
    assert out.attempts[0].memory_entry_ids == []
    assert store.get(entry.id).used == 0


def test_crib_solve_sends_the_sheet_to_the_agent(scripted_server, tmp_path):
    # Through the real CLI and crib's own wiring: a marked entry in the scope, then one problem
    # (`--memory none` through the same hook is covered above, without the CLI's start-up).
    from tests.crib.test_solve_cli import crib, crib_env, game24_solver

    scripted_server.script(game24_solver)
    env = crib_env(scripted_server.url, tmp_path / "data")
    r = crib(["memory", "add", "--scope", SCOPE, "--title", "Factor pairs", "--body", MARKER],
             env, tmp_path)
    assert r.returncode == 0, r.stderr
    r = crib(["solve", "--domain", SCOPE, "--limit", "1", "--agent", "cot", "--memory", "dc-cu"],
             env, tmp_path)
    assert r.returncode == 0, r.stderr
    solver = [text(r.body["messages"]) for r in scripted_server.chat_requests
              if "Chain-of-Thought Agent" in text(r.body["messages"])
              or "# Your Task:" in text(r.body["messages"])]
    assert solver and all(t.count(MARKER) == 1 for t in solver)


def test_an_answer_made_without_the_loop_counts_the_sheet_it_was_given(world):
    # chat's direct answers put the whole rendered sheet in their own system prompt.
    from crib.agents.loop import ProblemOutcome

    store, entry, llm, _sb = world
    hook = MemoryHook(store, mode="dc-cu", scope=SCOPE, run_id="chat", llm=llm)
    problem = Problem(id="c1", input="4 5 6 10")
    sheet = asyncio.run(hook.prepare(problem))
    assert MARKER in sheet.text and sheet.entry_ids == [entry.id]
    asyncio.run(hook.after(problem, ProblemOutcome(problem_id="c1", answer="x", passed=False)))
    after = store.get(entry.id)
    assert (after.used, after.helped, after.hurt) == (1, 0, 1)


def test_the_note_ends_the_problems_message_in_every_turn():
    # A repair turn resends the conversation: the note stays in the problem's message, so every
    # turn has the same prefix, and it is not added twice where an agent placed it itself.
    from crib.agents.prompt_sheet import PromptSheet, Sheet

    placed = PromptSheet(Sheet("[m-1] SHEET", ["m-1"], 3, note="NOTE: call it"))
    first = [{"role": "user", "content": "PROBLEM"}]
    repair = [*first, {"role": "assistant", "content": "code"},
              {"role": "user", "content": "Running it failed"}]
    sent = [placed.place(m, "solver") for m in (first, repair)]
    assert [m["content"] for m in sent[0]] == ["[m-1] SHEET", "PROBLEM\n\nNOTE: call it"]
    assert sent[1][:2] == sent[0] and sent[1][-1]["content"] == "Running it failed"
    own = [{"role": "user", "content": "PROBLEM\n[m-1] SHEET\nNOTE: call it"}]
    assert placed.place(own, "solver") == own and placed.shown() == ["m-1"]
    assert placed.place(first, "judge") == first  # a verdict on an answer gets neither
