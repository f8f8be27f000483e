"""The SQL response cache: keys, attempt indices, replay, modes, errors never cached."""
import asyncio
import itertools

import pytest

from crib.agents.llm import EndpointError
from crib.agents.llm.cache import cache_key
from tests.agents.llm.llm_helpers import cache_rows, calls, user
from tests.scripted_server import Reply


def numbered(server):
    counter = itertools.count()
    server.script(lambda req: f"sample {next(counter)}")


def test_key_covers_every_input():
    base = dict(model="m", base_url="http://h/v1", messages=user("q"),
                params={"temperature": 0.7, "max_tokens": 10}, attempt=0)
    key = cache_key(**base)
    assert cache_key(**base) == key
    assert cache_key(**{**base, "base_url": "http://h/v1/"}) == key  # same endpoint
    variants = [
        {"model": "m2"}, {"base_url": "http://other/v1"}, {"messages": user("q2")},
        {"params": {"temperature": 0.8, "max_tokens": 10}},
        {"params": {"temperature": 0.7, "max_tokens": 11}},
        {"params": {"temperature": 0.7, "max_tokens": 10,
                    "response_format": {"type": "json_object"}}},
        {"params": {"temperature": 0.7, "max_tokens": 10, "stop": ["\n"]}},
        {"attempt": 1},
    ]
    keys = {cache_key(**{**base, **v}) for v in variants}
    assert key not in keys and len(keys) == len(variants)


def test_attempts_are_distinct_samples_and_a_rerun_replays_them(make_llm, scripted_server, engine):
    numbered(scripted_server)
    llm = make_llm(temperature=0.8)

    async def best_of(n):
        return [await llm.complete(user("pick a number"), attempt=i) for i in range(n)]

    first = asyncio.run(best_of(3))
    assert [c.text for c in first] == ["sample 0", "sample 1", "sample 2"]
    assert not any(c.cached for c in first)
    assert cache_rows(engine) == 3
    seeds = [r.body["seed"] for r in scripted_server.chat_requests]
    assert len(set(seeds)) == 3  # temperature > 0: a seed derived from each attempt

    again = asyncio.run(best_of(3))  # a rerun: same texts, no new request
    assert [c.text for c in again] == [c.text for c in first]
    assert all(c.cached and c.cost_usd == 0 for c in again)
    assert scripted_server.served == 3
    assert sum(r.cached for r in calls(engine)) == 3


def test_no_seed_at_temperature_zero(make_llm, scripted_server):
    asyncio.run(make_llm(temperature=0.0).complete(user("q")))
    assert "seed" not in scripted_server.chat_requests[0].body


def test_cache_off_never_reads_or_writes(make_llm, scripted_server, engine):
    numbered(scripted_server)
    llm = make_llm(cache="off")
    texts = [asyncio.run(llm.complete(user("q"))).text for _ in range(2)]
    assert texts == ["sample 0", "sample 1"] and cache_rows(engine) == 0


def test_cache_read_replays_but_never_stores(make_llm, scripted_server, engine):
    numbered(scripted_server)
    asyncio.run(make_llm(cache="on").complete(user("known")))
    reader = make_llm(cache="read")
    assert asyncio.run(reader.complete(user("known"))).cached
    assert not asyncio.run(reader.complete(user("new"))).cached
    assert not asyncio.run(reader.complete(user("new"))).cached  # still not stored
    assert cache_rows(engine) == 1 and scripted_server.served == 3


def test_cache_write_always_asks_and_refreshes(make_llm, scripted_server, engine):
    numbered(scripted_server)
    asyncio.run(make_llm(cache="on").complete(user("q")))
    fresh = asyncio.run(make_llm(cache="write").complete(user("q")))
    assert not fresh.cached and fresh.text == "sample 1"
    assert cache_rows(engine) == 1
    assert asyncio.run(make_llm(cache="on").complete(user("q"))).text == "sample 1"


def test_errors_are_never_cached(make_llm, scripted_server, engine):
    scripted_server.enqueue(Reply.bad_request("no"))
    llm = make_llm()
    with pytest.raises(EndpointError):
        asyncio.run(llm.complete(user("q")))
    assert cache_rows(engine) == 0
    assert asyncio.run(llm.complete(user("q"))).text == "q"  # asked again, not replayed
    assert cache_rows(engine) == 1 and scripted_server.served == 2


def test_unknown_cache_mode_is_refused(make_llm):
    with pytest.raises(ValueError, match="cache mode"):
        make_llm(cache="sometimes")


def test_embedded_server_replays_across_restarts(engine, scripted_server):
    """The embedded server listens on a new port each start; its cache entries still replay."""
    from crib.agents.llm import ModelSettings, build_llm
    from tests.scripted_server import ScriptedServer

    roles = {"solver": ModelSettings(temperature=0.0, max_tokens=8, concurrency=2, timeout_s=10)}
    first = build_llm(engine, roles, local_base_url=scripted_server.url, local_model="qwen-x")
    assert not asyncio.run(first.complete(user("q"))).cached
    with ScriptedServer() as restarted:
        again = build_llm(engine, roles, local_base_url=restarted.url, local_model="qwen-x")
        assert asyncio.run(again.complete(user("q"))).cached
        other = build_llm(engine, roles, local_base_url=restarted.url, local_model="qwen-y")
        assert not asyncio.run(other.complete(user("q"))).cached
        assert restarted.served == 1
