"""Concurrent LLM calls from one agent: `complete_many` on the channel, `llm_many`,
`complete_many` and `LLMAgentBase.query_many` in the guest runtime. The calls of a batch overlap
at the (scripted, real HTTP) server, come back in order, are budgeted as a whole, fail item by
item, and a bad item ends the run like a bad `complete`."""
import asyncio
import json

import pytest

from crib.agents.library import program_of
from crib.sandbox import Limits
from crib.sandbox.limits import MAX_BATCH_CALLS
from tests.scripted_server import Reply
from tests.sandbox.conftest import openai_handler, run


def canned(seen=None, tokens=(7, 3), delay_s=0.0, in_flight=None):
    """A plain async handler; `in_flight` = [now, most] counts overlapping calls."""
    async def handler(method, params):
        if seen is not None:
            seen.append((method, params))
        if in_flight is not None:
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
        try:
            await asyncio.sleep(delay_s)
        finally:
            if in_flight is not None:
                in_flight[0] -= 1
        return {"text": "reply to " + params["messages"][-1]["content"],
                "tokens_in": tokens[0], "tokens_out": tokens[1]}
    return handler


def test_batch_overlaps_at_the_server_and_returns_in_order(sb, tier, scripted_server):
    # The first item is answered last: the replies must still come back in item order.
    scripted_server.script(lambda body: Reply(
        text="echo " + body["messages"][-1]["content"],
        delay_s=0.5 - 0.1 * int(body["messages"][-1]["content"][1:])))
    seen = []
    code = ("import json, crib_runtime as rt\n"
            "print(json.dumps(rt.llm_many([f'q{i}' for i in range(5)], system='be brief', "
            "temperature=0.7)))\n")
    r = run(sb, code, tier, rpc=openai_handler(scripted_server, seen, max_retries=0))
    assert r.ok, (r.error, r.stderr)
    assert json.loads(r.stdout) == [f"echo q{i}" for i in range(5)]
    assert scripted_server.max_in_flight == 5 and scripted_server.served == 5
    assert r.rpc_calls == 5 and r.tokens_in > 0 and r.tokens_out == 10  # "echo qN": 2 words
    assert all(p["temperature"] == 0.7 and p["role"] == "solver" for p in seen)
    assert all(p["messages"][0] == {"role": "system", "content": "be brief"} for p in seen)


def test_complete_many_reports_a_failed_item_alone(sb, scripted_server):
    scripted_server.script(lambda body: Reply.error(500, "model fell over")
                           if "boom" in body["messages"][-1]["content"] else Reply(text="fine"))
    code = ("import json, crib_runtime as rt\n"
            "msgs = [[{'role': 'user', 'content': c}] for c in ('a', 'boom', 'c')]\n"
            "out = rt.complete_many(msgs, max_tokens=20)\n"
            "print(json.dumps([o.get('text') for o in out]))\n"
            "print('error' in out[1] and 'model fell over' in out[1]['error'])\n"
            "try:\n    rt.llm_many(['a', 'boom', 'c', 'boom'])\n"
            "except rt.ChannelError as e:\n    print(e)\n")
    # No retries: the server's error is the item's failure.
    r = run(sb, code, "snippet", rpc=openai_handler(scripted_server, [], max_retries=0))
    assert r.ok, (r.error, r.stderr)
    texts, flagged, message = r.stdout.splitlines()
    assert json.loads(texts) == ["fine", None, "fine"] and flagged == "True"
    assert message.startswith("llm_many: item 1 failed (2 of 4 items failed): LLM call failed")
    assert r.rpc_calls == 7 and scripted_server.served == 7  # failed calls count too


def test_batch_budget_is_checked_for_the_whole_batch(sb, tier):
    seen = []
    code = ("import crib_runtime as rt\n"
            "try:\n    rt.llm_many(['a'] * 5)\n"
            "except rt.BudgetExceeded as e:\n    print(e)\n"
            "print(len(rt.llm_many(['b'] * 3)), rt.llm('c'))\n"
            "try:\n    rt.llm('d')\n"
            "except rt.BudgetExceeded as e:\n    print(e)\n")
    r = run(sb, code, tier, rpc=canned(seen), limits=Limits(max_llm_calls=4))
    assert r.error is None and r.exit_code == 0, (r.error, r.stderr)  # not ok: a limit was hit
    assert r.stdout.splitlines() == [
        "LLM call budget: a batch of 5 calls does not fit in the 4 left of 4",
        "3 reply to c", "LLM call budget spent (4 calls)"]
    assert r.rpc_calls == 4 == len(seen) and r.limit_hit == "llm_calls"


def test_batch_token_budget_is_checked_before_the_batch(sb):
    code = ("import crib_runtime as rt\n"
            "print(len(rt.llm_many(['a'] * 3)))\n"
            "try:\n    rt.llm_many(['b'] * 2)\n"
            "except rt.BudgetExceeded as e:\n    print(e)\n")
    r = run(sb, code, "snippet", rpc=canned(tokens=(40, 10)), limits=Limits(max_tokens=120))
    assert r.stdout.splitlines() == ["3", "token budget spent (120 tokens)"]
    assert (r.tokens_in, r.tokens_out, r.rpc_calls, r.limit_hit) == (120, 30, 3, "tokens")


def test_long_lists_go_in_batches_of_the_protocol_limit(sb):
    in_flight = [0, 0]
    code = ("import crib_runtime as rt\n"
            "out = rt.llm_many([str(i) for i in range(20)])\n"
            "print(rt.MAX_BATCH, out == ['reply to ' + str(i) for i in range(20)], "
            "rt.llm_many([]), rt.complete_many(()))\n")
    r = run(sb, code, "snippet", rpc=canned(delay_s=0.05, in_flight=in_flight))
    assert r.ok, (r.error, r.stderr)
    assert r.stdout.split() == [str(MAX_BATCH_CALLS), "True", "[]", "[]"]
    assert in_flight[1] == MAX_BATCH_CALLS and r.rpc_calls == 20


def test_no_handler_and_bad_arguments_in_the_guest(sb):
    code = ("import crib_runtime as rt\n"
            "for call in (lambda: rt.llm_many(['x']), lambda: rt.llm_many('x'),\n"
            "             lambda: rt.complete_many([[{'role': 'user', 'content': 'x'}]], n=2)):\n"
            "    try:\n        call()\n"
            "    except (rt.ChannelError, TypeError) as e:\n        print(type(e).__name__, e)\n")
    r = run(sb, code, "snippet")
    assert r.ok, (r.error, r.stderr)
    lines = r.stdout.splitlines()
    assert lines[0].startswith("ChannelError no LLM is connected")
    assert lines[1] == "TypeError llm_many takes a list, got str"
    assert lines[2] == "TypeError unknown completion parameters: ['n']"


GOOD = {"messages": [{"role": "user", "content": "x"}]}


@pytest.mark.parametrize("params, why", [
    ({"requests": [GOOD, {"messages": [{"role": "tool", "content": "x"}]}]},
     "complete_many: requests[1]: complete: messages[0]"),
    ({"requests": [GOOD, {**GOOD, "temperature": 9}]}, "requests[1]: complete: temperature"),
    ({"requests": [GOOD, "x"]}, "requests[1] must be an object"),
    ({"requests": []}, f"1..{MAX_BATCH_CALLS} items"),
    ({"requests": [GOOD] * (MAX_BATCH_CALLS + 1)}, f"1..{MAX_BATCH_CALLS} items"),
    ({"requests": [GOOD], "parallel": True}, "unknown parameters ['parallel']"),
])
def test_a_bad_item_ends_the_run_before_any_call(sb, tier, params, why):
    seen = []
    line = json.dumps({"id": 1, "method": "complete_many", "params": params}) + "\n"
    code = f"import os, time\nos.write(3, {line.encode()!r})\ntime.sleep(30)\n"
    r = run(sb, code, tier, rpc=canned(seen), limits=Limits(timeout_s=20))
    assert not r.ok and "protocol violation" in r.error and why in r.error, r.error
    assert seen == [] and r.rpc_calls == 0 and r.limit_hit is None


ADAS_QUERY_MANY = '''def forward(self, taskInfo):
    hot = LLMAgentBase(["thinking", "answer"], "Hot Agent", role="poet", temperature=0.9)
    cold = LLMAgentBase(["answer"], "Cold Agent", temperature=0.1)
    (t1, a1), (a2,) = LLMAgentBase.query_many([(hot, [taskInfo], "Answer."),
                                               (cold, [taskInfo], "Answer.", 2)])
    (t3, a3), = LLMAgentBase.query_many([(hot, [taskInfo], "Answer.")])
    alone = hot([taskInfo], "Answer.")
    return {"many": [list(t1), list(a1), list(a2)], "single": [list(i) for i in alone],
            "again": [list(t3), list(a3)], "hot": repr(hot)}
'''


def test_adas_query_many_matches_single_queries(sb, scripted_server):
    scripted_server.script(lambda body: Reply(
        text=json.dumps({"thinking": "hmm", "answer": body["temperature"]}), delay_s=0.3))
    seen = []
    r = asyncio.run(sb.run_agent(program_of(ADAS_QUERY_MANY), task="What is 6*7?",
                                 rpc=openai_handler(scripted_server, seen, max_retries=0)))
    assert r.ok, (r.error, r.stderr)
    hot = r.value["hot"]
    assert r.value["many"] == [["thinking", hot, "hmm", -1], ["answer", hot, 0.9, -1],
                               ["answer", r.value["many"][2][1], 0.1, 2]]
    assert r.value["single"] == r.value["again"] == r.value["many"][:2]
    assert scripted_server.max_in_flight == 2 and r.rpc_calls == 4
    # A batched query sends exactly what the same query alone sends.
    assert seen[0] == seen[2] == seen[3] and seen[0]["response_format"] == {"type": "json_object"}
    assert seen[1]["temperature"] == 0.1 and "You are a helpful assistant." in \
        seen[1]["messages"][0]["content"]
