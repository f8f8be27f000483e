"""The LLM judge against the scripted OpenAI-compatible server, through the real client."""
import asyncio
import json

import pytest

from crib.agents.llm import LLM, BudgetExceeded, ModelSettings
from crib.agents.problems import Problem
from crib.agents.verify import LLMJudge, VerifyContext
from crib.storage import open_database
from tests.scripted_server import Reply


@pytest.fixture
def llm(tmp_path, scripted_server):
    engine = open_database(f"sqlite:///{tmp_path}/t.db")
    settings = ModelSettings(model="scripted-model", base_url=scripted_server.url,
                             temperature=0.0, max_tokens=256, max_retries=0, timeout_s=30)
    return LLM(engine, {"solver": settings, "judge": settings}, cache="on")


class Free:
    name = "free"
    answer_format = "Answer in one sentence."


def judge(llm, answer="Paris", **kw):
    ctx = VerifyContext(domain=Free(), task="What is the capital of France?", llm=llm,
                        run_id="r1", attempt=2, attempt_id="r1:abc:2", **kw)
    return asyncio.run(LLMJudge(rubric="Names the right city.").verify(
        Problem(id="q", input="What is the capital of France?"), answer, ctx)), ctx


def test_judge_verdict_comes_from_structured_reply(llm, scripted_server):
    scripted_server.script(lambda body: Reply(text=json.dumps(
        {"passed": True, "score": 0.9, "feedback": "Correct city."}), tokens_in=57, tokens_out=13))
    verdict, ctx = judge(llm)
    assert (verdict.passed, verdict.score, verdict.verifier) == (True, 0.9, "llm-judge")
    assert verdict.feedback == "Correct city."
    # The judge's spend is charged to the attempt it verified.
    assert (ctx.usage.calls, ctx.usage.tokens_in, ctx.usage.tokens_out) == (1, 57, 13)
    body = scripted_server.chat_requests[-1].body
    prompt = " ".join(m["content"] for m in body["messages"])
    assert "Names the right city." in prompt and "Paris" in prompt
    assert "Answer in one sentence." in prompt


def test_judge_failure_is_unknown_with_reason_not_an_exception(llm, scripted_server):
    scripted_server.script(lambda body: "I think it is fine!")  # not JSON at all
    verdict, _ = judge(llm)
    assert verdict.passed is None and "judge failed" in verdict.feedback
    scripted_server.script(lambda body: Reply.error(500))
    verdict, _ = judge(llm, answer="Lyon")
    assert verdict.passed is None and "EndpointError" in verdict.feedback


def test_judge_without_answer_fails_without_calling(llm, scripted_server):
    verdict, ctx = judge(llm, answer=None)
    assert verdict.passed is False and scripted_server.served == 0 and ctx.usage.calls == 0


def test_run_budget_propagates(tmp_path, scripted_server):
    engine = open_database(f"sqlite:///{tmp_path}/b.db")
    settings = ModelSettings(model="scripted-model", base_url=scripted_server.url,
                             max_retries=0, timeout_s=30)
    small = LLM(engine, {"solver": settings, "judge": settings}, budget_tokens=1, run_id="r1")
    scripted_server.script(lambda body: json.dumps({"passed": True, "score": 1, "feedback": "ok"}))
    judge(small)  # spends more than one token
    with pytest.raises(BudgetExceeded):
        judge(small, answer="Lyon")
