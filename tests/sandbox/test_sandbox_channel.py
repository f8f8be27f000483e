"""The narrow channel: LLM completions through the caller's handler, budgets, the cheatsheet,
nested snippet runs, protocol violations, and agents in Crib's API and ADAS's (adapted)."""
import asyncio
import json

import pytest

from crib.agents.library import program_of
from crib.sandbox import Limits
from tests.sandbox.conftest import openai_handler, run

ADAS_COT = '''def forward(self, taskInfo):
    # Instruction for the Chain-of-Thought (CoT) approach
    cot_instruction = "Please think step by step and then solve the task."

    # Instantiate a new LLM agent specifically for CoT
    cot_agent = LLMAgentBase(['thinking', 'answer'], 'Chain-of-Thought Agent')

    # Prepare the inputs for the CoT agent
    cot_agent_inputs = [taskInfo]

    # Get the response from the CoT agent
    thinking, answer = cot_agent(cot_agent_inputs, cot_instruction)

    # Return only the final answer
    return answer
'''

ADAS_COT_SC = '''def forward(self, taskInfo):
    cot_instruction = "Please think step by step and then solve the task."
    N = 3 # Number of CoT agents
    cot_agents = [LLMAgentBase(['thinking', 'answer'], 'Chain-of-Thought Agent',
                               temperature=0.8) for _ in range(N)]
    from collections import Counter
    def majority_voting(answers):
        return Counter(answers).most_common(1)[0][0]
    possible_answers = []
    for i in range(N):
        thinking, answer = cot_agents[i]([taskInfo], cot_instruction)
        possible_answers.append(answer.content)
    answer = majority_voting(possible_answers)
    return answer
'''

CRIB_AGENT = '''from crib_runtime import answer_format, cheatsheet, llm_json, run_python


def forward(task):
    plan = llm_json("Plan: " + task, {"type": "object", "required": ["expr"],
                                      "properties": {"expr": {"type": "string"}}})
    r = run_python("def calc():\\n    return " + plan["expr"], entry="calc")
    return {"answer": r["value"], "format": answer_format, "sheet": cheatsheet}
'''


def canned(text="hello from the host", tokens=(7, 3), seen=None):
    async def handler(method, params):
        if seen is not None:
            seen.append((method, params))
        return {"text": text, "tokens_in": tokens[0], "tokens_out": tokens[1]}
    return handler


def test_rpc_round_trip(sb, tier):
    seen = []
    code = "import crib_runtime as rt\nprint(rt.llm('hi there', temperature=0.1, role='judge'))\n"
    r = run(sb, code, tier, rpc=canned(seen=seen))
    assert r.ok, r.error
    assert r.stdout == "hello from the host\n"
    assert r.rpc_calls == 1 and (r.tokens_in, r.tokens_out) == (7, 3)
    method, params = seen[0]
    assert method == "complete" and params["role"] == "judge" and params["temperature"] == 0.1
    assert params["messages"] == [{"role": "user", "content": "hi there"}]


def test_no_handler_is_a_clear_error(sb):
    r = run(sb, "import crib_runtime as rt\nrt.llm('hi')", "snippet")
    assert not r.ok and "no rpc handler" in r.error


def test_call_and_token_budgets(sb, tier):
    code = ("import crib_runtime as rt\nn = 0\n"
            "try:\n    for _ in range(10):\n        rt.llm('x'); n += 1\n"
            "except rt.BudgetExceeded as e:\n    print(n, e)\n")
    r = run(sb, code, tier, rpc=canned(), limits=Limits(max_llm_calls=3))
    assert r.stdout.startswith("3 LLM call budget spent") and r.limit_hit == "llm_calls"
    r = run(sb, code, tier, rpc=canned(tokens=(40, 10)), limits=Limits(max_tokens=120))
    assert r.stdout.startswith("3 token budget spent") and r.limit_hit == "tokens"
    assert r.tokens_in + r.tokens_out == 150


def test_handler_failure_reaches_the_guest(sb):
    async def failing(method, params):
        raise TimeoutError("endpoint slow")
    code = ("import crib_runtime as rt\ntry:\n    rt.llm('x')\n"
            "except rt.ChannelError as e:\n    print(e)\n")
    r = run(sb, code, "snippet", rpc=failing)
    assert r.ok and "LLM call failed: TimeoutError: endpoint slow" in r.stdout


@pytest.mark.parametrize("payload, why", [
    (b"this is not json\n", "not a JSON line"),
    (b'{"id": 1, "method": "read_file", "params": {"path": "/etc/passwd"}}\n', "unknown method"),
    (b'{"id": 1, "method": "complete", "params": {"messages": [], "api_key": "x"}}\n',
     "unknown parameters"),
    (b'{"id": 1, "method": "complete", "params": '
     b'{"messages": [{"role": "tool", "content": "x"}]}}\n',
     "messages[0]"),
])
def test_protocol_violations_end_the_run(sb, tier, payload, why):
    code = f"import os, time\nos.write(3, {payload!r})\ntime.sleep(30)\n"
    r = run(sb, code, tier, rpc=canned(), limits=Limits(timeout_s=20))
    assert not r.ok and "protocol violation" in r.error and why in r.error
    assert r.wall_ms < 20_000 and r.limit_hit is None


def test_oversized_message_ends_the_run(sb):
    code = "import os\nos.write(3, b'x' * 5000)\nos.write(3, b'\\n')\nimport time; time.sleep(30)"
    r = run(sb, code, "snippet", limits=Limits(max_message_bytes=2048, timeout_s=20))
    assert not r.ok and "exceeds 2048 bytes" in r.error


def test_cheatsheet_and_nested_run_python(sb, tier):
    code = ("import crib_runtime as rt\n"
            "r = rt.run_python('print(sum(range(10)))\\ndef g(x):\\n    return x * 2', "
            "entry='g', inputs=[21])\n"
            "print(rt.get_cheatsheet(), r['stdout'].strip(), r['value'], r['tier'])\n")
    r = run(sb, code, tier, cheatsheet="SHEET")
    assert r.ok, r.error
    assert r.stdout.split() == ["SHEET", "45", "42", "snippet"] and r.nested_runs == 1


def test_adas_cot_agent_through_scripted_server(sb, tier, scripted_server):
    scripted_server.script(lambda req: json.dumps({"thinking": "6 times 7", "answer": "42"}))
    seen = []
    r = asyncio.run(sb.run_agent(program_of(ADAS_COT), task="What is 6*7?", tier=tier,
                                 answer_format="Reply with the number only.",
                                 rpc=openai_handler(scripted_server, seen)))
    assert r.ok, (r.error, r.stderr)
    assert r.value == "42" and r.rpc_calls == 1 and r.tokens_in > 0
    system, user = seen[0]["messages"]
    assert "You are a helpful assistant." in system["content"]
    assert "Reply with the number only." in system["content"] and '"thinking"' in system["content"]
    assert user["content"].startswith("# Your Task:\nWhat is 6*7?")
    assert seen[0]["response_format"] == {"type": "json_object"}
    body = scripted_server.chat_requests[0].body
    assert body["response_format"] == {"type": "json_object"} and body["temperature"] == 0.5


def test_adas_cot_sc_agent(sb, scripted_server):
    answers = iter(["7", "42", "42"])
    scripted_server.script(lambda req: json.dumps({"thinking": "...", "answer": next(answers)}))
    seen = []
    handler = openai_handler(scripted_server, seen)
    r = asyncio.run(sb.run_agent(program_of(ADAS_COT_SC), task="6*7?", rpc=handler))
    assert r.ok, (r.error, r.stderr)
    assert r.value == "42" and r.rpc_calls == 3 and seen[0]["temperature"] == 0.8


def test_crib_style_agent(sb, tier):
    async def handler(method, params):
        return {"text": 'Sure: {"expr": "6 * 7"}', "tokens_in": 5, "tokens_out": 5}
    r = asyncio.run(sb.run_agent(CRIB_AGENT, task="six times seven", answer_format="a number",
                                 cheatsheet="multiply", rpc=handler, tier=tier))
    assert r.ok, (r.error, r.stderr)
    assert r.value == {"answer": 42, "format": "a number", "sheet": "multiply"}


def test_adas_self_attribute_and_missing_forward(sb):
    code = ("def helper(x):\n    return x.upper()\n"
            "def forward(self, taskInfo):\n    return self.helper(taskInfo.content)\n")
    r = asyncio.run(sb.run_agent(program_of(code), task="shout", tier="snippet"))
    assert r.ok and r.value == "SHOUT"
    r = asyncio.run(sb.run_agent("x = 1", task="t", tier="snippet"))
    assert not r.ok and "defines no forward(task)" in r.error
