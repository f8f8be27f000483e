"""Streaming for chat, the per-endpoint concurrency limit, and each event loop's pools."""
import asyncio
import gc
import threading
import warnings

import aiohttp
import pytest

from crib.agents.llm import EndpointError, LLMError, ModelSettings, build_llm
from crib.agents.llm.client import derive_seed
from tests.agents.llm.llm_helpers import calls, user
from tests.scripted_server import Reply


def test_stream_pieces_usage_and_replay(make_llm, scripted_server, engine):
    scripted_server.enqueue(Reply(text="the quick brown fox", tokens_in=11, tokens_out=4))
    llm = make_llm(run_id="chat")

    async def collect():
        return [piece async for piece in llm.stream(user("tell me"))]

    pieces = asyncio.run(collect())
    assert len(pieces) == 4 and "".join(pieces) == "the quick brown fox"
    assert scripted_server.chat_requests[0].body["stream"] is True
    row = calls(engine)[0]
    assert (row.tokens_in, row.tokens_out, row.cached) == (11, 4, False)
    assert asyncio.run(collect()) == ["the quick brown fox"]  # replayed from the cache
    assert scripted_server.served == 1
    assert llm.spend().cached_calls == 1


def test_stream_error_is_an_endpoint_error_after_its_retries(make_llm, scripted_server, engine):
    scripted_server.script(lambda req: Reply.error(500, "boom"))

    async def collect():
        return [piece async for piece in make_llm(max_retries=2).stream(user("x"))]

    with pytest.raises(EndpointError, match="after 3 attempts.*boom") as info:
        asyncio.run(collect())
    assert info.value.status == 500 and scripted_server.served == 3
    rows = calls(engine)
    assert len(rows) == 1 and "HTTP 500" in rows[0].error


def test_stream_retries_before_its_first_piece(make_llm, scripted_server, engine):
    scripted_server.enqueue(Reply.rate_limited(retry_after=0.2), Reply.error(502))

    async def collect():
        return [piece async for piece in make_llm().stream(user("a b"))]

    assert asyncio.run(collect()) == ["a ", "b"]
    assert scripted_server.served == 3
    assert all(r.body["stream"] is True for r in scripted_server.chat_requests)
    rows = calls(engine)
    assert len(rows) == 1 and rows[0].error is None


def test_stream_times_out_waiting_for_its_first_piece(make_llm, scripted_server):
    scripted_server.script(lambda req: Reply(text="late", delay_s=3))

    async def collect():
        return [piece async for piece in make_llm(timeout_s=0.3, max_retries=1).stream(user("x"))]

    with pytest.raises(EndpointError, match="timed out after 0.3 s"):
        asyncio.run(collect())
    assert len(scripted_server.chat_requests) == 2


def test_concurrency_limit_per_endpoint(make_llm, scripted_server):
    scripted_server.script(lambda req: Reply(text="done", delay_s=0.15))
    llm = make_llm(roles=("solver", "judge"), concurrency=3, cache="off")

    async def burst():
        return await asyncio.gather(*[
            llm.complete(user(f"q{i}"), role="solver" if i % 2 else "judge") for i in range(12)])

    results = asyncio.run(burst())
    assert len(results) == 12 and scripted_server.served == 12
    assert scripted_server.max_in_flight == 3  # both roles share one endpoint's limit


def unclosed_pools(work) -> list[str]:
    """The aiohttp sessions `work()` left open: those still alive after it, and those whose
    garbage warned "Unclosed ..." (an LLM may outlive `work`: its SQL writer's last job)."""
    def sessions():
        return [o for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession)]

    before = {id(s) for s in sessions()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        work()
        gc.collect()
    return ([str(w.message) for w in caught if str(w.message).startswith("Unclosed")]
            + [repr(s) for s in sessions() if id(s) not in before and not s.closed])


def test_llm_usable_from_successive_event_loops_each_closes_its_pools(make_llm,
                                                                       scripted_server):
    def successive_loops():
        llm = make_llm(concurrency=2)
        for i in range(3):  # no aclose: asyncio.run shutting each loop down closes its pools
            assert asyncio.run(llm.complete(user(f"loop {i}"))).text == f"loop {i}"
        in_thread = []  # and a loop run by asyncio.run in a worker thread
        worker = threading.Thread(target=lambda: in_thread.append(
            asyncio.run(llm.complete(user("in a thread"))).text))
        worker.start()
        worker.join()
        assert in_thread == ["in a thread"]

    assert unclosed_pools(successive_loops) == []
    assert scripted_server.served == 4


def test_aclose_then_more_calls_on_the_loop_and_a_dropped_llm(make_llm, scripted_server):
    async def calls_after_aclose():
        llm = make_llm()
        assert (await llm.complete(user("before"))).text == "before"
        await llm.aclose()
        await llm.aclose()  # twice is fine
        assert (await llm.complete(user("after"))).text == "after"  # new pools, closed later

    async def dropped_while_its_loop_runs():
        llm = make_llm()
        await llm.complete(user("dropped"))
        del llm  # its loop closes its pools
        await asyncio.sleep(0.05)

    assert unclosed_pools(lambda: asyncio.run(calls_after_aclose())) == []
    assert unclosed_pools(lambda: asyncio.run(dropped_while_its_loop_runs())) == []
    assert scripted_server.served == 3


def test_roles_without_endpoint_go_to_the_local_server(scripted_server):
    roles = {"solver": ModelSettings(temperature=0.0, max_tokens=10, concurrency=8,
                                     api_key_env="OPENAI_API_KEY", timeout_s=5, max_retries=0),
             "judge": ModelSettings(model="gpt-4o", base_url=scripted_server.url)}
    llm = build_llm(None, roles, local_base_url=scripted_server.url, local_model="qwen-local")
    assert llm.role("solver").model == "qwen-local"
    assert llm.role("solver").settings.api_key_env is None
    assert asyncio.run(llm.complete(user("hi"))).text == "hi"
    with pytest.raises(ValueError, match="no embedded server"):
        build_llm(None, roles)
    with pytest.raises(LLMError, match="unknown role"):
        asyncio.run(llm.complete(user("hi"), role="meta"))


def test_completer_adapter_for_lower_layers(make_llm, scripted_server):
    complete = make_llm().completer("solver", max_tokens=5)
    assert asyncio.run(complete(user("curate this"))) == "curate this"
    assert scripted_server.chat_requests[0].body["max_completion_tokens"] == 5
    # Asked again (a repair whose first reply was unusable), a sampled request is a new sample:
    # another seed, not the cached reply; a different request starts at the first sample.
    sampled = make_llm().completer("solver", temperature=0.7)
    for text in ("fix this", "fix this", "fix that"):
        asyncio.run(sampled(user(text)))
    seeds = [r.body["seed"] for r in scripted_server.chat_requests[1:]]
    assert scripted_server.served == 4 and seeds[0] != seeds[1]
    assert seeds[2] == derive_seed(user("fix that"), 0)


def test_stream_stopped_early_is_recorded_not_cached(make_llm, scripted_server, engine):
    scripted_server.script(lambda req: Reply(text="one two three four five"))
    llm = make_llm()

    async def first_two():
        stream = llm.stream(user("count"))
        got = [await stream.__anext__(), await stream.__anext__()]
        await stream.aclose()
        return got

    assert asyncio.run(first_two()) == ["one ", "two "]
    row = calls(engine)[0]
    assert row.error == "stream stopped by the caller after 2 pieces" and row.tokens_out == 2
    assert asyncio.run(first_two()) == ["one ", "two "]  # not replayed from a cache
    assert scripted_server.served == 2
