"""Retries with backoff and Retry-After, bounded; timeouts; what is not retried."""
import asyncio
import email.utils
import time

import pytest

from crib.agents.llm import EndpointError
from crib.agents.llm.retry import parse_retry_after
from tests.agents.llm.llm_helpers import calls, user
from tests.scripted_server import Reply


def gaps(server) -> list[float]:
    times = [r.received_at for r in server.chat_requests]
    return [b - a for a, b in zip(times, times[1:])]


def test_retry_after_seconds_is_honoured(make_llm, scripted_server, engine):
    scripted_server.enqueue(Reply.rate_limited(retry_after=1))
    completion = asyncio.run(make_llm().complete(user("hello")))
    assert completion.text == "hello"
    assert scripted_server.served == 2
    assert gaps(scripted_server)[0] >= 0.9  # backoff alone would be ~0.01 s
    rows = calls(engine)
    assert len(rows) == 1 and rows[0].error is None


def test_retry_after_http_date_is_honoured(make_llm, scripted_server):
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    scripted_server.enqueue(Reply.rate_limited(retry_after=when, status=503))
    asyncio.run(make_llm().complete(user("hello")))
    assert scripted_server.served == 2 and gaps(scripted_server)[0] >= 0.5


def test_parse_retry_after_forms():
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    future = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 <= parse_retry_after({"retry-after": future}) <= 10
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize("failure", [Reply.error(500), Reply.error(502), Reply.malformed(),
                                     Reply.rate_limited(retry_after=None), Reply.error(408)])
def test_transient_failure_then_success(make_llm, scripted_server, failure):
    scripted_server.enqueue(failure)
    assert asyncio.run(make_llm().complete(user("hi"))).text == "hi"
    assert scripted_server.served == 2


def test_retries_are_bounded(make_llm, scripted_server, engine):
    scripted_server.script(lambda req: Reply.error(500, "backend down"))
    with pytest.raises(EndpointError) as info:
        asyncio.run(make_llm(max_retries=2).complete(user("hi")))
    assert info.value.attempts == 3 and info.value.status == 500
    assert "after 3 attempts" in str(info.value) and "backend down" in str(info.value)
    assert scripted_server.served == 3
    rows = calls(engine)
    assert len(rows) == 1 and "HTTP 500" in rows[0].error


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_client_errors_are_not_retried(make_llm, scripted_server, status):
    scripted_server.enqueue(Reply.error(status, "you asked wrong"))
    with pytest.raises(EndpointError) as info:
        asyncio.run(make_llm().complete(user("hi")))
    assert info.value.status == status and scripted_server.served == 1


def test_timeout_per_call(make_llm, scripted_server):
    scripted_server.script(lambda req: Reply(text="late", delay_s=3))
    started = time.monotonic()
    with pytest.raises(EndpointError, match="timed out"):
        asyncio.run(make_llm(timeout_s=0.3, max_retries=1).complete(user("hi")))
    assert time.monotonic() - started < 2.5  # did not wait for the slow replies
    assert len(scripted_server.chat_requests) == 2


def test_key_from_environment_reaches_the_server_only(make_llm, scripted_server, engine,
                                                      monkeypatch):
    monkeypatch.setenv("CRIB_TEST_KEY", "sk-secret-value")
    asyncio.run(make_llm(api_key_env="CRIB_TEST_KEY").complete(user("hi")))
    assert scripted_server.chat_requests[0].headers["authorization"] == "Bearer sk-secret-value"
    with engine.connect() as conn:
        dump = "\n".join(str(tuple(r)) for t in ("llm_calls", "llm_cache")
                         for r in conn.exec_driver_sql(f"select * from {t}"))
    assert "sk-secret" not in dump


def test_no_key_configured_sends_a_placeholder(make_llm, scripted_server, monkeypatch):
    monkeypatch.delenv("CRIB_TEST_KEY", raising=False)
    asyncio.run(make_llm(api_key_env="CRIB_TEST_KEY").complete(user("hi")))
    assert scripted_server.chat_requests[0].headers["authorization"] == "Bearer sk-no-key"
