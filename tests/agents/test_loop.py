"""The per-problem loop with the real sandbox, the real LLM client and the scripted server.

Agents here are small Crib-API agents written for the test (the seeds have their own tests in
tests/agents/library); the domain is the real Game of 24 with its target-free checker.
"""
import asyncio
import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crib.agents.domains.game24 import Game24
from crib.agents.library import load_agent
from crib.agents.llm import LLM, BudgetExceeded, ModelSettings
from crib.agents.loop import LoopPolicy, ProblemOutcome, SolveContext, solve_problem
from crib.agents.problems import Problem
from crib.agents.prompt_sheet import Sheet
from crib.agents.records import AttemptRow, CallRow
from crib.agents.verdict import Verdict
from crib.storage import open_database
from crib.sandbox import Limits
from tests.scripted_server import Reply

RIGHT = "4 * 5 - (6 - 10)"
WRONG = "4 + 5 + 6 + 10"  # = 25
ASK = '''"""Ask once."""


def forward(task):
    return llm(task + "\\n" + answer_format)
'''


def spec_of(code: str, name: str = "ask"):
    return load_agent({"name": name, "code": code})


@pytest.fixture
def engine(tmp_path):
    return open_database(f"sqlite:///{tmp_path}/t.db")


def make_llm(engine, url, **kw):
    s = ModelSettings(model="scripted-model", base_url=url, temperature=0.0, max_tokens=256,
                      max_retries=0, timeout_s=30)
    return LLM(engine, {"solver": s, "judge": s}, **kw)


@pytest.fixture
def ctx(engine, scripted_server, sandbox):
    return SolveContext(llm=make_llm(engine, scripted_server.url), sandbox=sandbox,
                        run_id="run1", engine=engine, limits=Limits(timeout_s=60))


PROBLEM = Problem(id="p1", input="4 5 6 10", target=RIGHT)


def solve(ctx, policy, spec=None, problem=PROBLEM, **kw) -> ProblemOutcome:
    return asyncio.run(solve_problem(problem, Game24(), spec or spec_of(ASK), ctx, policy, **kw))


def rows(engine):
    with Session(engine) as s:
        return list(s.scalars(select(AttemptRow).order_by(AttemptRow.attempt_index)))


def test_single_attempt_scores_verifies_and_records(ctx, engine, scripted_server):
    scripted_server.script(lambda body: f"Easy.\nAnswer: {RIGHT}")
    out = solve(ctx, LoopPolicy(kind="single"))
    assert (out.answer, out.passed, out.score, out.error) == (RIGHT, True, 1.0, None)
    assert out.calls == 1 and out.tokens_in > 0 and out.tokens_out > 0
    prompt = scripted_server.chat_requests[0].body["messages"][-1]["content"]
    assert "Use the numbers 4 5 6 10" in prompt and "Answer: <expression>" in prompt
    [row] = rows(engine)
    assert (row.run_id, row.problem_id, row.agent_name, row.passed, row.calls) == (
        "run1", "p1", "ask", True, 1)
    assert row.verdicts[0]["verifier"] == "game24"
    with Session(engine) as s:  # the ledger knows which attempt made the call
        assert s.scalars(select(CallRow.attempt_id)).all() == [row.id]


def test_retry_feeds_back_the_verdict_and_stops_at_first_pass(ctx, engine, scripted_server):
    def script(body):
        text = body["messages"][-1]["content"]
        return f"Answer: {RIGHT}" if "was checked" in text else f"Answer: {WRONG}"

    scripted_server.script(script)
    out = solve(ctx, LoopPolicy(kind="retry", k=4))
    assert [a.passed for a in out.attempts] == [False, True]  # stopped at the first pass
    assert out.passed is True and out.answer == RIGHT and out.score == 1.0
    second = scripted_server.chat_requests[1].body["messages"][-1]["content"]
    assert f"Your previous answer {WRONG} was checked" in second
    assert "evaluates to 25" in second and "Try again." in second
    assert out.attempts[1].feedback_in and "evaluates to 25" in out.attempts[1].feedback_in
    assert [r.attempt_index for r in rows(engine)] == [0, 1]


def test_retry_gives_up_after_k_failures(ctx, scripted_server):
    scripted_server.script(lambda body: f"Answer: {WRONG}")
    out = solve(ctx, LoopPolicy(kind="retry", k=3))
    assert len(out.attempts) == 3 and out.passed is False and out.score == 0.0
    assert out.error is None and out.answer == WRONG  # a wrong answer is not an error
    last = scripted_server.chat_requests[-1].body["messages"][-1]["content"]
    assert last.count("was checked") == 2  # both earlier answers are shown


def test_best_of_n_uses_distinct_attempt_indices_and_replays_from_cache(
        ctx, engine, scripted_server):
    scripted_server.script(lambda body: f"Answer: {WRONG}")
    out = solve(ctx, LoopPolicy(kind="best-of-n", n=3))
    assert [a.index for a in out.attempts] == [0, 1, 2]
    bodies = [r.body for r in scripted_server.chat_requests]
    assert len(bodies) == 3  # three cache misses: three distinct cache keys
    assert len({b["seed"] for b in bodies}) == 3  # the endpoint saw three distinct requests
    assert all(b["temperature"] == 0.7 for b in bodies)  # sampled, though the role is greedy
    with Session(engine) as s:
        assert len(set(s.scalars(select(CallRow.attempt_id)).all())) == 3
    served = scripted_server.served
    again = solve(ctx, LoopPolicy(kind="best-of-n", n=3))  # a rerun replays the same samples
    assert scripted_server.served == served and again.cached_calls == 3
    assert len(rows(engine)) == 3  # the rerun replaced the attempts, nothing counted twice


def test_best_of_n_keeps_the_best_and_stops_spending_at_a_pass(ctx, scripted_server):
    scripted_server.enqueue(f"Answer: {WRONG}", f"Answer: {RIGHT}")
    out = solve(ctx, LoopPolicy(kind="best-of-n", n=5))
    assert len(out.attempts) == 2 and out.chosen_attempt == 1 and out.answer == RIGHT
    scripted_server.enqueue(f"Answer: {WRONG}", f"Answer: {RIGHT}", "no idea")
    full = solve(ctx, LoopPolicy(kind="best-of-n", n=3, early_stop=False),
                 problem=Problem(id="p2", input="4 5 6 10"))
    assert len(full.attempts) == 3 and full.chosen_attempt == 1 and full.passed is True


def test_vote_takes_the_majority_without_consulting_verifiers(ctx, scripted_server):
    # The majority is wrong: vote must still choose it (it is the verifier-free baseline).
    scripted_server.enqueue(*[f"Answer: {a}" for a in (RIGHT, WRONG, WRONG, RIGHT, WRONG)])
    out = solve(ctx, LoopPolicy(kind="vote", n=5))
    assert len(out.attempts) == 5 and out.answer == WRONG and out.chosen_attempt == 1
    assert out.passed is False and out.score == 0.0  # verdict recorded for the chosen answer
    assert all(not a.verdicts for i, a in enumerate(out.attempts) if i != 1)


def test_verifiers_never_see_the_target(ctx, scripted_server):
    seen = []

    class Spy:
        name, needs_samples = "spy", False

        async def verify(self, problem, answer, vctx):
            seen.append(problem.target)
            return Verdict(passed=None, verifier=self.name)

    scripted_server.script(lambda body: f"Answer: {WRONG}")
    out = solve(ctx, LoopPolicy(kind="best-of-n", n=2), verifiers=[Spy()])
    assert seen == [None, None] and out.score == 0.0  # the score did use the target


def test_agent_crash_and_endpoint_error_become_recorded_errors(ctx, engine, scripted_server):
    crash = spec_of('def forward(task):\n    raise RuntimeError("agent bug here")\n', "crash")
    out = solve(ctx, LoopPolicy(kind="retry", k=2), spec=crash)
    assert out.answer is None and "agent bug here" in out.error and len(out.attempts) == 2
    assert out.score == 0.0 and all("RuntimeError" in r.error for r in rows(engine))
    broken = spec_of("def forward(task)\n    return 1\n", "syntax")
    out = solve(ctx, LoopPolicy(kind="single"), spec=broken)
    assert out.answer is None and "SyntaxError" in out.error

    scripted_server.script(lambda body: Reply.error(500, "the model fell over"))
    out = solve(ctx, LoopPolicy(kind="single"))
    assert out.answer is None and "model call failed" in out.error
    assert "the model fell over" in out.error


def test_sandbox_limit_and_malformed_reply_are_attempt_errors(ctx, scripted_server):
    spin = spec_of("def forward(task):\n    while True:\n        pass\n", "spin")
    ctx.limits = Limits(timeout_s=1)
    out = solve(ctx, LoopPolicy(kind="single"), spec=spin)
    assert out.attempts[0].limit_hit in ("timeout", "cpu") and "limit" in out.error
    ctx.limits = Limits(timeout_s=60)
    scripted_server.script(lambda body: "this is not JSON {")
    cot = load_agent("cot")  # LLMAgentBase wants JSON: the answer field comes back empty
    out = solve(ctx, LoopPolicy(kind="single"), spec=cot)
    assert out.answer is None and out.passed is False and out.score == 0.0
    assert out.verdicts and "Answer:" in out.verdicts[0].feedback


def test_problem_budget_stops_the_agent_and_the_loop(ctx, scripted_server):
    scripted_server.script(lambda body: f"Answer: {WRONG}")
    out = solve(ctx, LoopPolicy(kind="retry", k=3, max_calls=4), spec=load_agent("cot-sc"))
    assert len(out.attempts) == 1 and out.calls == 4
    assert "problem budget spent" in out.error and out.notes


def test_run_budget_propagates(engine, scripted_server, sandbox):
    llm = make_llm(engine, scripted_server.url, budget_tokens=5, run_id="run1")
    ctx = SolveContext(llm=llm, sandbox=sandbox, run_id="run1", engine=engine)
    scripted_server.script(lambda body: f"Answer: {WRONG}")
    with pytest.raises(BudgetExceeded):
        solve(ctx, LoopPolicy(kind="retry", k=3))


class RecordingMemory:
    """A memory seam implementation that records what the loop tells it."""

    def __init__(self):
        self.after_calls = []

    async def prepare(self, problem):
        return Sheet("[e1] TRICK: multiply first.", ["e1", "e2"], 7)  # e2 did not fit the sheet

    async def after(self, problem, outcome):
        self.after_calls.append((problem.id, outcome.passed))


def test_memory_seam_sheet_reaches_the_agent_and_after_sees_the_outcome(
        ctx, engine, scripted_server):
    code = 'def forward(task):\n    return llm(cheatsheet + "\\n" + task)\n'
    scripted_server.script(lambda body: f"Answer: {RIGHT}")
    ctx.memory = RecordingMemory()
    out = solve(ctx, LoopPolicy(kind="single"), spec=spec_of(code, "sheet"))
    first = scripted_server.chat_requests[0].body["messages"]
    assert "TRICK: multiply first." in first[0]["content"]
    assert ctx.memory.after_calls == [("p1", True)] and out.cheatsheet_version == "7"
    [row] = rows(engine)
    # Only the entries that were in a prompt count as used by the attempt.
    assert (row.cheatsheet_version, row.memory_entry_ids) == ("7", ["e1"])


def test_judge_verifier_spend_is_charged_to_the_attempt(ctx, scripted_server):
    from crib.agents.verify import LLMJudge

    def script(body):
        if body.get("response_format") or "Rubric" in body["messages"][-1]["content"]:
            return json.dumps({"passed": True, "score": 1.0, "feedback": "fine"})
        return f"Answer: {RIGHT}"

    scripted_server.script(script)
    out = solve(ctx, LoopPolicy(kind="single"), verifiers=[LLMJudge()])
    assert out.passed is True and out.calls == 2


def test_a_broken_verifier_or_unrenderable_problem_is_recorded_not_raised(ctx, scripted_server):
    class Broken:
        name, needs_samples = "broken", False

        async def verify(self, problem, answer, vctx):
            raise KeyError("oops")

    scripted_server.script(lambda body: f"Answer: {RIGHT}")
    out = solve(ctx, LoopPolicy(kind="single"), verifiers=[Broken()])
    assert out.passed is None and "verifier broken failed: KeyError" in out.verdicts[0].feedback
    assert out.score == 1.0  # the answer is still scored
    bad = Problem(id="bad", input={"numbers": "four"})
    out = solve(ctx, LoopPolicy(kind="single"), problem=bad)
    assert out.error.startswith("cannot render the task") and not out.attempts


def test_an_agent_that_recovers_from_a_failed_call_keeps_its_answer(ctx, scripted_server):
    code = ('def forward(task):\n    try:\n        return llm(task)\n'
            f'    except Exception:\n        return "Answer: {RIGHT}"\n')
    scripted_server.script(lambda body: Reply.error(500, "down"))
    out = solve(ctx, LoopPolicy(kind="single"), spec=spec_of(code, "careful"))
    assert out.error is None and out.passed is True and out.calls == 0
