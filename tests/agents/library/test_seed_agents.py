"""Every seed agent runs in the real sandbox against the scripted server and solves a Game of 24
puzzle through `solve_problem` (the server answers sensibly for each agent's prompts)."""
import asyncio
import json
import re

import pytest

from crib.agents.domains.game24 import Game24
from crib.agents.library import agent_names, load_agent
from crib.agents.llm import LLM, ModelSettings
from crib.agents.loop import LoopPolicy, SolveContext, solve_problem
from crib.agents.problems import Problem
from crib.storage import open_database
from crib.sandbox import Limits
from tests.scripted_server import Reply

RIGHT = "4 * 5 - (6 - 10)"
WRONG = "4 + 5 + 6 + 10"
PROGRAM = ("```python\nnums = [4, 5, 6, 10]\na, b, c, d = nums\n"
           "assert a * b - (c - d) == 24\nprint(f'Answer: {a} * {b} - ({c} - {d})')\n```")


def adas_reply(body):
    """LLMAgentBase asks for JSON; give every field any seed asks for."""
    return json.dumps({"thinking": "Multiply 4 and 5, then add 10 - 6.", "answer": RIGHT,
                       "principle": "Reach 24 as 20 + 4.", "feedback": "It is right.",
                       "correct": "True", "choice": "puzzle"})


def crib_reply(body):
    msgs = body["messages"]
    last = msgs[-1]["content"]
    if "Write a short Python program" in last:
        return PROGRAM
    if "Do not solve it yet" in last:
        return "for each pair (x, y): try x op y; recurse on the rest; stop at 24"
    if "Execute the pseudocode" in last:
        return f"x = 4 * 5 = 20; y = 6 - 10 = -4; 20 - -4 = 24\nAnswer: {RIGHT}"
    if msgs[0]["role"] == "system" and "EXECUTE CODE!" in msgs[0]["content"]:
        if last.startswith("Output:"):
            return f"The program printed {last.split()[1]}.\nAnswer: {RIGHT}"
        return "Let me check.\n```python\nprint(4 * 5 - (6 - 10))\n```\nEXECUTE CODE!"
    return f"Step by step.\nAnswer: {RIGHT}"


def reply(body):
    if (body.get("response_format") or {}).get("type") == "json_object":
        return adas_reply(body)
    return crib_reply(body)


CALLS = {"cot": 1, "cot-sc": 5, "self-refine": 2, "debate": 7, "step-back": 2,
         "quality-diversity": 4, "role-assignment": 2, "program-of-thought": 1,
         "think-and-execute": 2, "dc-generator": 2}


@pytest.fixture
def ctx(tmp_path, scripted_server, sandbox):
    engine = open_database(f"sqlite:///{tmp_path}/t.db")
    s = ModelSettings(model="scripted-model", base_url=scripted_server.url, temperature=0.0,
                      max_tokens=512, max_retries=0, timeout_s=30)
    llm = LLM(engine, {"solver": s, "judge": s})
    return SolveContext(llm=llm, sandbox=sandbox, run_id="seeds", engine=engine,
                        limits=Limits(timeout_s=60))


def run(ctx, name):
    return asyncio.run(solve_problem(Problem(id="p", input="4 5 6 10"), Game24(),
                                     load_agent(name), ctx, LoopPolicy(kind="single")))


def test_the_table_covers_every_seed():
    assert sorted(CALLS) == sorted(agent_names())


@pytest.mark.parametrize("name", sorted(CALLS))
def test_seed_agent_solves_in_the_sandbox(name, ctx, scripted_server):
    scripted_server.script(reply)
    out = run(ctx, name)
    assert out.error is None, out.error
    assert (out.passed, out.score) == (True, 1.0), out.attempts[0].raw_output
    assert scripted_server.served == CALLS[name] == out.calls
    first = scripted_server.chat_requests[0].body["messages"]
    assert any("Use the numbers 4 5 6 10" in m["content"] for m in first)
    prompts = [m["content"] for r in scripted_server.chat_requests for m in r.body["messages"]]
    assert any("Answer: <expression>" in p for p in prompts)  # the domain's answer format


def test_program_of_thought_answer_is_what_the_program_printed(ctx, scripted_server):
    scripted_server.script(reply)
    out = run(ctx, "program-of-thought")
    assert out.attempts[0].raw_output == f"Answer: {RIGHT}"
    assert f"Answer: {RIGHT}" not in PROGRAM  # only running the code produces this text


def test_program_of_thought_repairs_a_failing_program(ctx, scripted_server):
    scripted_server.enqueue("```python\nprint(undefined_name)\n```", PROGRAM)
    out = run(ctx, "program-of-thought")
    assert out.passed is True and scripted_server.served == 2
    repair = scripted_server.chat_requests[1].body["messages"][-1]["content"]
    assert "NameError" in repair


def test_dc_generator_feeds_the_code_output_back(ctx, scripted_server):
    scripted_server.script(reply)
    out = run(ctx, "dc-generator")
    assert out.passed is True
    second = scripted_server.chat_requests[1].body["messages"]
    assert second[-1]["content"].startswith("Output:\n24")
    assert "EXECUTE CODE!" in second[-2]["content"]  # the model's own turn is kept
    assert "CHEATSHEET:\n(empty)" in second[1]["content"]


def test_dc_generator_stops_after_three_code_rounds(ctx, scripted_server):
    scripted_server.script(
        lambda body: "```python\nprint(len('" + "x" * len(body["messages"]) + "'))\n```\n"
                     "EXECUTE CODE!")
    out = run(ctx, "dc-generator")
    assert scripted_server.served == 4  # the first reply plus three rounds with output
    assert out.answer is None or out.passed is False


def test_cot_sc_samples_five_distinct_requests_and_takes_the_majority(ctx, scripted_server):
    scripted_server.enqueue(*[f"Thinking.\nAnswer: {a}" for a in
                              (WRONG, RIGHT, "4*5 - (6-10)", WRONG, RIGHT)])
    out = run(ctx, "cot-sc")
    bodies = [r.body for r in scripted_server.chat_requests]
    assert len(bodies) == 5 and all(b["temperature"] == 0.8 for b in bodies)
    assert len({b["seed"] for b in bodies}) == 5  # five samples, not one cached reply
    assert out.passed is True  # three of five say 20 - (-4), spaces ignored


@pytest.mark.parametrize("name, batch", [("cot-sc", 5), ("debate", 3)])
def test_independent_calls_overlap_at_the_server(name, batch, ctx, scripted_server):
    # cot-sc's five samples go out at once; so do the three debaters of each round.
    scripted_server.script(lambda body: Reply(text=reply(body), delay_s=0.3))
    out = run(ctx, name)
    assert out.passed is True and out.calls == CALLS[name]
    assert scripted_server.max_in_flight == batch


def test_debate_rounds_see_only_earlier_rounds(ctx, scripted_server):
    scripted_server.script(adas_reply)
    run(ctx, "debate")
    users = [r.body["messages"][-1]["content"] for r in scripted_server.chat_requests]
    debaters = [u for u in users if "updated answer" in u]
    assert len(debaters) == 3 and all(u.count("### answer by Debate Agent") == 3
                                      for u in debaters)
    assert sum("Think step by step, then answer." in u for u in users) == 3
    assert "Weigh the answers above" in users[-1]  # the judge comes last, after both rounds


def test_self_refine_revises_on_critic_feedback(ctx, scripted_server):
    answers = iter([WRONG, RIGHT])

    def script(body):
        system = body["messages"][0]["content"]
        if '"correct"' in system:
            wrong = WRONG in body["messages"][-1]["content"] and RIGHT not in \
                body["messages"][-1]["content"]
            return json.dumps({"feedback": "25, not 24" if wrong else "ok",
                               "correct": "False" if wrong else "True"})
        return json.dumps({"thinking": "t", "answer": next(answers)})

    scripted_server.script(script)
    out = run(ctx, "self-refine")
    assert out.passed is True and scripted_server.served == 4  # solve, critic, fix, critic
    fix = scripted_server.chat_requests[2].body["messages"][-1]["content"]
    assert "25, not 24" in fix


def test_role_assignment_routes_to_the_named_expert(ctx, scripted_server):
    scripted_server.script(adas_reply)
    run(ctx, "role-assignment")
    expert_system = scripted_server.chat_requests[1].body["messages"][0]["content"]
    assert re.match(r"You are a puzzle solver\.", expert_system)


def test_adas_seed_falls_back_to_its_reasoning_when_the_answer_field_is_missing(
        ctx, scripted_server):
    # Seen with the 0.5B model: a JSON reply holding only "thinking".
    scripted_server.script(lambda body: json.dumps({"thinking": f"Multiply first.\n{RIGHT}"}))
    out = run(ctx, "cot")
    assert out.answer == RIGHT and out.passed is True


def test_program_of_thought_repairs_a_program_that_finds_nothing(ctx, scripted_server):
    # Seen with the 0.5B model: a search that fails prints "Answer: None".
    scripted_server.enqueue("```python\nfound = None\nprint(f'Answer: {found}')\n```", PROGRAM)
    out = run(ctx, "program-of-thought")
    assert out.passed is True and scripted_server.served == 2
    assert "it found no answer" in scripted_server.chat_requests[1].body["messages"][-1]["content"]


def test_program_of_thought_asks_for_a_shorter_program_when_the_reply_was_cut(ctx, scripted_server):
    # Seen with the 1.5B model: nested loops until max_tokens, the block never closed. Run, the
    # fragment's first line was the fence, and the model was shown "SyntaxError: ```python".
    cut = "```python\nfor a in range(9):\n    for b in range(9):\n        for c in"
    scripted_server.enqueue(cut, PROGRAM)
    out = run(ctx, "program-of-thought")
    assert out.passed is True and scripted_server.served == 2
    repair = scripted_server.chat_requests[1].body["messages"][-1]["content"]
    assert "write a shorter program" in repair and "SyntaxError" not in repair
    assert len(out.attempts[0].snippets) == 1  # only the repaired program ran


ADAS_COT = '''"""ADAS's style: forward(self, taskInfo), names used without importing them."""
def forward(self, taskInfo):
    agent = LLMAgentBase(["thinking", "answer"], "Chain-of-Thought Agent")
    thinking, answer = agent([taskInfo], self.instruction())
    return answer if str(answer.content).strip() else thinking


def instruction():
    return "Think step by step, then give the answer."
'''


def test_an_adas_agent_runs_adapted_and_asks_what_the_seed_asks(ctx, scripted_server, tmp_path):
    scripted_server.script(reply)
    adas = load_agent({"name": "adas-cot", "code": ADAS_COT})
    out = asyncio.run(solve_problem(Problem(id="p", input="4 5 6 10"), Game24(), adas, ctx,
                                    LoopPolicy(kind="single")))
    assert out.error is None and out.passed is True, out.error
    # The one-API seed, on a fresh database (no response cache), sends the very same request.
    engine = open_database(f"sqlite:///{tmp_path}/fresh.db")
    ctx.llm = LLM(engine, {"solver": ctx.llm.role("solver").settings})
    assert run(ctx, "cot").passed is True
    first, second = (r.body for r in scripted_server.chat_requests)
    assert first == second


# ADAS's Self-Refine (Reflexion) seed as the ADAS paper's archives publish it.
ADAS_REFLEXION = '''def forward(self, taskInfo):
    # Instruction for initial reasoning
    cot_initial_instruction = "Please think step by step and then solve the task."

    # Instruction for reflecting on previous attempts and feedback to improve
    cot_reflect_instruction = "Given previous attempts and feedback, carefully consider where you could go wrong in your latest attempt. Using insights from previous attempts, try to solve the task better."
    cot_agent = LLMAgentBase(['thinking', 'answer'], 'Chain-of-Thought Agent')

    # Instruction for providing feedback and correcting the answer
    critic_instruction = "Please review the answer above and criticize on where might be wrong. If you are absolutely sure it is correct, output 'True' in 'correct'."
    critic_agent = LLMAgentBase(['feedback', 'correct'], 'Critic Agent')

    N_max = 5 # Maximum number of attempts

    # Initial attempt
    cot_inputs = [taskInfo]
    thinking, answer = cot_agent(cot_inputs, cot_initial_instruction, 0)

    for i in range(N_max):
        # Get feedback and correct status from the critic
        feedback, correct = critic_agent([taskInfo, thinking, answer], critic_instruction, i)
        if correct.content == 'True':
            break

        # Add feedback to the inputs for the next iteration
        cot_inputs.extend([thinking, answer, feedback])

        # Reflect on previous attempts and refine the answer
        thinking, answer = cot_agent(cot_inputs, cot_reflect_instruction, i + 1)
    return answer
'''  # noqa: E501 - ADAS's own lines, kept as published


def test_a_published_adas_agent_runs_unchanged(ctx, scripted_server):
    verdicts = iter(["False", "True"])

    def script(body):
        if '"correct"' in body["messages"][0]["content"]:
            return json.dumps({"feedback": "check the sign", "correct": next(verdicts)})
        return adas_reply(body)

    scripted_server.script(script)
    agent = load_agent({"name": "Self-Refine (Reflexion)", "code": ADAS_REFLEXION})
    assert agent.api == "adas"
    out = asyncio.run(solve_problem(Problem(id="p", input="4 5 6 10"), Game24(), agent, ctx,
                                    LoopPolicy(kind="single")))
    assert out.error is None and out.passed is True, out.error
    assert scripted_server.served == 4  # solve, critic (False), refine, critic (True)
    refine = scripted_server.chat_requests[2].body["messages"][-1]["content"]
    assert "### feedback #1 by Critic Agent" in refine
    assert refine.endswith("try to solve the task better.")  # ADAS's own instruction
