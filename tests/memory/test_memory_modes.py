"""Each memory mode's prompt assembly and after-problem hook. The curator's model is a scripted
async callable: at this layer the curator only ever receives a callable."""
import asyncio
import json

import pytest

from crib.memory.modes import SYNTHESIS_SYSTEM, MemorySession


def run(coro):
    return asyncio.run(coro)


class Scripted:
    """A deterministic `complete`: curator replies from a queue, synthesis replies from a
    function."""

    def __init__(self, curator_replies=(), synthesis=None):
        self.curator_replies = list(curator_replies)
        self.synthesis = synthesis
        self.calls = []

    async def __call__(self, messages):
        self.calls.append(messages)
        if messages[0]["content"] == SYNTHESIS_SYSTEM:
            return self.synthesis(messages)
        return self.curator_replies.pop(0)


def add_reply(title, body, kind="strategy"):
    return json.dumps({"operations": [{"op": "add", "kind": kind, "title": title, "body": body}]})


def test_none_and_empty(indexed_store):
    none = run(MemorySession(indexed_store, "none", "s").prepare("2 3 4 5"))
    assert none.text == "" and none.entry_ids == []
    empty = MemorySession(indexed_store, "empty", "s")
    ctx = run(empty.prepare("2 3 4 5"))
    assert "Cheatsheet" in ctx.text and "empty" in ctx.text
    assert run(empty.after("2 3 4 5", "(2+4)*(5-3)... wait", True)) is None
    assert indexed_store.problems("s") == []  # these modes keep nothing


def test_skills_mode_shows_only_skills_and_nothing_before_the_first(indexed_store):
    session = MemorySession(indexed_store, "skills", "s")
    assert run(session.prepare("2 3 4 5")).text == ""  # no skill yet: mode none's prompt
    indexed_store.add("s", "Try products first", "Look for 4 * 6 or 3 * 8.")
    assert run(session.prepare("2 3 4 5")).text == ""  # prose is the curated modes' business
    skill = indexed_store.add("s", "solve_s(numbers)", 'def solve_s(numbers):\n'
                              '    """Add the numbers."""\n    return str(sum(numbers))\n',
                              kind="skill")
    ctx = run(session.prepare("2 3 4 5"))
    assert ctx.entry_ids == [skill.id] and "Try products" not in ctx.text
    assert "# Skills" in ctx.text and "from skills import solve_s" in ctx.text
    assert run(session.after("2 3 4 5", "14", True, problem_id="p1")) is None  # no curation
    assert [p.problem for p in indexed_store.problems("s")] == ["2 3 4 5"]  # kept for tests


def test_full_history_gated_and_ungated(indexed_store):
    s = MemorySession(indexed_store, "full-history", "s")
    run(s.after("problem one", "answer one", True, problem_id="p1"))
    run(s.after("problem two", "answer two", False, problem_id="p2"))
    ctx = run(s.prepare("problem three"))
    assert "answer one" in ctx.text and "answer two" not in ctx.text  # gating hides failures
    ungated = run(MemorySession(indexed_store, "full-history", "s", gating=False)
                  .prepare("problem three"))
    assert "answer one" in ungated.text and "answer two" in ungated.text
    assert ungated.text.index("problem one") < ungated.text.index("problem two")
    assert "failed verification" in ungated.text


def test_retrieval_top_k(indexed_store):
    s = MemorySession(indexed_store, "retrieval", "s", k=1)
    run(s.after("Use 4 7 8 8 to make 24 with + - * /", "(7-8/8)*4", True))
    run(s.after("What is the capital city of France?", "Paris", True))
    run(s.after("Balance the chemical equation H2 + O2 -> H2O", "2H2 + O2 -> 2H2O", True))
    ctx = run(s.prepare("Use 1 5 5 5 to make 24 with + - * /"))
    assert "(7-8/8)*4" in ctx.text and "Paris" not in ctx.text and len(ctx.problem_ids) == 1
    ctx = run(s.prepare("Which city is France's capital?"))
    assert "Paris" in ctx.text


def test_dc_cu_curates_and_next_problem_sees_it(indexed_store):
    complete = Scripted([add_reply("Brute force", "Search all orders of numbers and operators."),
                         "The sheet looks fine to me.",  # malformed: no JSON
                         add_reply("Guessing", "Guess an expression.")])
    s = MemorySession(indexed_store, "dc-cu", "g24", complete=complete, model="m")
    ctx = run(s.prepare("1 2 3 4"))
    assert ctx.text == "" and ctx.entry_ids == []  # nothing to show: no sheet at all
    r = run(s.after("1 2 3 4", "1*2*3*4", True, problem_id="p1", run_id="r1", context=ctx))
    assert r.status == "applied"
    entry = indexed_store.get(r.changed_ids[0])
    assert entry.status == "active" and entry.provenance.problem_id == "p1"
    assert entry.provenance.model == "m"
    ctx2 = run(s.prepare("2 2 3 4"))
    assert ctx2.entry_ids == [entry.id] and "Search all orders" in ctx2.text
    assert ctx2.version == indexed_store.version("g24")
    # the curator saw the problem, the verdict and (second time) the entry with its id
    v = indexed_store.version("g24")
    r2 = run(s.after("2 2 3 4", "(2+2)*(3+...)", True, context=ctx2))
    assert r2.status == "malformed" and indexed_store.version("g24") == v
    second_prompt = complete.calls[1][1]["content"]
    assert entry.id in second_prompt and "PASSED" in second_prompt
    r3 = run(s.after("3 3 3 3", "3*3*3-3", False, context=ctx2))
    assert indexed_store.get(r3.changed_ids[0]).status == "quarantined"
    statuses = [c["status"] for c in indexed_store.curations("g24")]
    assert statuses == ["applied", "malformed", "applied"]
    assert run(s.prepare("2 2 3 4")).entry_ids == [entry.id]


def test_dc_rs_synthesises_from_entries_and_similar_problems(indexed_store):
    seen = {}

    def synthesis(messages):
        seen["user"] = messages[1]["content"]
        ident = indexed_store.entries("g24")[0].id
        return f"For this problem: try every pair first [{ident}]."

    complete = Scripted([add_reply("Pairs first", "Combine pairs, then combine the results.")],
                        synthesis)
    s = MemorySession(indexed_store, "dc-rs", "g24", complete=complete, k=2)
    ctx = run(s.prepare("1 1 4 6"))
    assert ctx.text == "" and len(complete.calls) == 0  # nothing to synthesise from yet
    run(s.after("1 1 4 6", "(1+1)*... no: 6*4*1*1", True, context=ctx))
    ctx2 = run(s.prepare("1 2 4 6"))
    entry = indexed_store.entries("g24")[0]
    assert ctx2.entry_ids == [entry.id] and "try every pair first" in ctx2.text
    assert "1 1 4 6" in seen["user"] and entry.id in seen["user"]
    assert "Combine pairs" in seen["user"]
    assert ctx2.problem_ids == [indexed_store.problems("g24")[0].id]


def test_unknown_mode_and_missing_callable(store):
    with pytest.raises(ValueError, match="unknown memory mode"):
        MemorySession(store, "dc-xx", "s")
    with pytest.raises(ValueError, match="needs a `complete`"):
        MemorySession(store, "dc-cu", "s")


def test_second_session_sees_what_the_first_learned(db_url, tmp_path):
    """Persistence: a new engine, store and session (as in a second `crib chat`) on the same
    database and Chroma directory renders what the first session curated."""
    from crib.storage import open_database
    from crib.memory.store import MemoryStore

    chroma = str(tmp_path / "chroma-shared")
    first = MemoryStore(open_database(db_url), chroma_dir=chroma)
    s1 = MemorySession(first, "dc-cu", "chat",
                       complete=Scripted([add_reply("Units", "Always state units.")]))
    run(s1.after("How far is 3 km in m?", "3000 m", True))
    first.engine.dispose()

    second = MemoryStore(open_database(db_url), chroma_dir=chroma)
    ctx = run(MemorySession(second, "dc-cu", "chat", complete=Scripted())
              .prepare("How far is 2 km in m?"))
    assert "Always state units." in ctx.text and len(ctx.entry_ids) == 1
    assert second.search("chat", "units", k=1)[0][0].title == "Units"
