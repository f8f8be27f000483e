"""A role may name a LangChain provider (init_chat_model); a batch's --concurrency sets the
calls in flight per endpoint unless a configured limit caps it, which is said once."""
import asyncio
import logging

import pytest

from crib.agents.llm import LLM, LLMError, ModelSettings, resolve_roles
from tests.agents.llm.llm_helpers import calls, user
from tests.scripted_server import Reply


def test_a_provider_role_goes_through_init_chat_model(scripted_server, engine, monkeypatch):
    pytest.importorskip("langchain.chat_models", reason="crib[providers] not installed")
    monkeypatch.setenv("CRIB_TEST_KEY", "sk-provider-key")
    role = ModelSettings(provider="openai", model="scripted-model", base_url=scripted_server.url,
                         api_key_env="CRIB_TEST_KEY", max_retries=1, timeout_s=10)
    llm = LLM(engine, {"solver": role})
    scripted_server.enqueue(Reply.error(503), Reply(text="via a provider", tokens_out=3))

    async def both():  # one loop: a provider's package may keep one HTTP client per process
        completion = await llm.complete(user("hi"))
        return completion, [piece async for piece in llm.stream(user("a b c"))]

    completion, pieces = asyncio.run(both())
    assert completion.text == "via a provider" and completion.tokens_out == 3
    assert scripted_server.served == 3  # 503 then retried by us, not by the SDK; the stream
    assert scripted_server.chat_requests[1].headers["authorization"] == "Bearer sk-provider-key"
    assert "".join(pieces) == "a b c"
    assert [r.base_url for r in calls(engine)] == [scripted_server.url] * 2


def test_an_unknown_provider_is_a_clear_error(engine):
    pytest.importorskip("langchain.chat_models", reason="crib[providers] not installed")
    llm = LLM(engine, {"solver": ModelSettings(provider="no-such-provider", model="m")})
    with pytest.raises(LLMError, match="provider 'no-such-provider', model 'm'"):
        asyncio.run(llm.complete(user("hi")))


def test_a_provider_role_needs_no_endpoint_and_no_embedded_server():
    roles = {"solver": ModelSettings(provider="anthropic", model="claude-x")}
    assert resolve_roles(roles, None, None) == roles
    LLM(None, roles)  # valid without a base_url
    with pytest.raises(LLMError, match="role 'solver' has no base_url"):
        LLM(None, {"solver": ModelSettings(model="m")})


def burst(llm, n: int):
    async def run():
        return await asyncio.gather(*[llm.complete(user(f"q{i}")) for i in range(n)])

    return asyncio.run(run())


def test_want_in_flight_raises_the_default_limit(make_llm, scripted_server):
    scripted_server.script(lambda req: Reply(text="done", delay_s=0.3))
    llm = make_llm(concurrency=None, cache="off")
    burst(llm, 12)
    assert scripted_server.max_in_flight == 8  # nothing asked: the default
    assert llm.want_in_flight(12) == []
    burst(llm, 12)
    assert scripted_server.max_in_flight == 12


def test_a_configured_limit_caps_the_batch_and_is_said_once(make_llm, scripted_server, caplog):
    scripted_server.script(lambda req: Reply(text="done", delay_s=0.2))
    llm = make_llm(concurrency=3, cache="off")
    with caplog.at_level(logging.WARNING, logger="crib.llm"):
        capped = llm.want_in_flight(10)
        assert llm.want_in_flight(10) == capped
    assert len(capped) == 1 and "at most 3 calls in flight" in capped[0] and "10" in capped[0]
    assert caplog.text.count("at most 3 calls in flight") == 1
    burst(llm, 8)
    assert scripted_server.max_in_flight == 3
