"""The ledger (one row per call, sums equal to what the server reported) and run budgets."""
import asyncio

import pytest

from crib.agents.llm import BudgetExceeded
from crib.agents.llm.prices import cost_usd, price_of
from tests.agents.llm.llm_helpers import calls, user
from tests.scripted_server import Reply


def usage_script(server, tokens_in=10, tokens_out=5):
    server.script(lambda req: Reply(text=f"re: {req['messages'][-1]['content']}",
                                    tokens_in=tokens_in, tokens_out=tokens_out))


def test_ledger_sums_equal_server_reported_usage(make_llm, scripted_server, engine):
    seen = []

    def script(req):
        n = len(seen) + 1
        seen.append((7 * n, 3 * n))
        return Reply(text="ok", tokens_in=7 * n, tokens_out=3 * n)

    scripted_server.script(script)
    llm = make_llm(roles=("solver", "judge"), model="gpt-4o-mini", run_id="run-1")

    async def work():
        for i in range(3):
            await llm.complete(user(f"solve {i}"), role="solver", attempt_id=f"a{i}")
        await llm.complete(user("judge it"), role="judge")
        await llm.complete(user("solve 0"), role="solver")  # cached: free

    asyncio.run(work())
    spend = llm.spend("run-1")
    assert spend.tokens_in == sum(i for i, _ in seen)
    assert spend.tokens_out == sum(o for _, o in seen)
    assert spend.calls == 5 and spend.cached_calls == 1 and spend.errors == 0
    assert spend.by_role["solver"].tokens_in == 7 + 14 + 21
    assert spend.by_role["judge"].tokens_out == 12
    expected = cost_usd("gpt-4o-mini", spend.tokens_in, spend.tokens_out)
    assert spend.cost_usd == pytest.approx(expected)
    rows = calls(engine)
    assert [r.attempt_id for r in rows[:3]] == ["a0", "a1", "a2"]
    assert all(r.run_id == "run-1" and r.base_url == scripted_server.url for r in rows)
    assert all(r.latency_ms > 0 for r in rows if not r.cached)
    assert llm.spend("another-run").calls == 0


def test_price_table():
    assert price_of("gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert price_of("gpt-4o") == (2.50, 10.00)
    assert price_of("openai/gpt-4.1-mini") == (0.40, 1.60)
    assert price_of("o3-mini") == (1.10, 4.40)
    assert price_of("qwen2.5-coder-1.5b") == (0.0, 0.0)
    assert cost_usd("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(12.5)


def test_token_budget_stops_with_a_clear_message(make_llm, scripted_server):
    usage_script(scripted_server)  # 15 tokens a call
    llm = make_llm(run_id="r", budget_tokens=25)

    async def work():
        await llm.complete(user("one"))
        await llm.complete(user("two"))
        await llm.complete(user("three"))

    with pytest.raises(BudgetExceeded) as info:
        asyncio.run(work())
    assert info.value.budget == "tokens" and info.value.spent == 30 and info.value.limit == 25
    said = str(info.value)
    assert "token budget" in said and "30" in said and "run r" in said
    assert scripted_server.served == 2
    # Cached replies are free: they still come back after the budget is spent.
    assert asyncio.run(llm.complete(user("one"))).cached


def test_usd_budget_and_resume_sees_earlier_spend(make_llm, scripted_server, engine):
    usage_script(scripted_server, tokens_in=1_000_000, tokens_out=0)  # $0.15 a call
    first = make_llm(model="gpt-4o-mini", run_id="r", budget_usd=0.40)
    asyncio.run(first.complete(user("a")))
    asyncio.run(first.complete(user("b")))
    resumed = make_llm(model="gpt-4o-mini", run_id="r", budget_usd=0.40)  # a new process
    asyncio.run(resumed.complete(user("c")))
    with pytest.raises(BudgetExceeded, match=r"USD budget reached for run r: \$0\.45"):
        asyncio.run(resumed.complete(user("d")))
    other_run = make_llm(model="gpt-4o-mini", run_id="r2", budget_usd=0.40)
    assert asyncio.run(other_run.complete(user("d"))).text == "re: d"


def test_ledger_without_a_database(make_llm, scripted_server):
    usage_script(scripted_server)
    llm = make_llm(engine=None, run_id="mem")
    asyncio.run(llm.complete(user("x")))
    asyncio.run(llm.complete(user("x")))  # no cache without a database
    spend = llm.spend()
    assert spend.calls == 2 and spend.cached_calls == 0 and spend.tokens == 30


def test_failed_calls_are_recorded(make_llm, scripted_server, engine):
    scripted_server.enqueue(Reply.bad_request("context too long"))
    llm = make_llm(run_id="r")
    with pytest.raises(Exception):
        asyncio.run(llm.complete(user("x")))
    assert llm.spend().errors == 1
    assert "context too long" in calls(engine)[0].error


def test_tracked_spend_equals_the_sql_aggregate_and_resumes_from_it(make_llm, scripted_server):
    usage_script(scripted_server, tokens_in=4, tokens_out=2)
    first = make_llm(roles=("solver", "judge"), model="gpt-4o-mini", run_id="run-t")
    asyncio.run(first.complete(user("before the restart")))  # an earlier session of the run

    llm = make_llm(roles=("solver", "judge"), model="gpt-4o-mini", run_id="run-t")
    llm.track("run-t")  # as crib solve does before the run's first call
    scripted_server.enqueue(Reply.bad_request("no"))

    async def work():
        with pytest.raises(Exception):
            await llm.complete(user("refused"))  # an error row
        for i in range(3):
            await llm.complete(user(f"q{i}"), role="solver")
        await llm.complete(user("q0"), role="solver")  # cached
        await llm.complete(user("judge"), role="judge")
        await llm.aclose()

    asyncio.run(work())
    tracked, fresh = llm.spend("run-t"), llm.spend("run-t", fresh=True)
    assert tracked.model_dump() == fresh.model_dump()
    assert tracked.calls == 7 and tracked.cached_calls == 1 and tracked.errors == 1
    assert tracked.tokens_in == 4 * 5  # the earlier session's call counts; the cached one is free
    assert llm.spend("other").calls == 0


def test_request_is_the_one_chatopenai_sent(make_llm, scripted_server):
    llm = make_llm(temperature=0.5, max_tokens=12)
    asyncio.run(llm.complete(user("hi"), stop=["\n"], response_format={"type": "json_object"}))
    req = scripted_server.chat_requests[0]
    assert req.body["model"] == "scripted-model" and req.body["stream"] is False
    assert req.body["messages"] == [{"role": "user", "content": "hi"}]
    assert req.body["max_completion_tokens"] == 12 and req.body["temperature"] == 0.5
    assert req.body["stop"] == ["\n"] and isinstance(req.body["seed"], int)
    assert req.body["response_format"] == {"type": "json_object"}
    assert req.headers["authorization"].startswith("Bearer ")
