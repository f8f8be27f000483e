"""The cache and ledger on a real PostgreSQL server (started here; skipped where the server
binaries cannot run), including concurrent identical calls racing to store one cache key."""
import asyncio
import json

import pytest
from pydantic import BaseModel

from crib.agents.llm import LLM, Backoff, ModelSettings
from tests.agents.llm.llm_helpers import cache_rows, calls, retried_run, script_retries, user

pytestmark = pytest.mark.postgres


class Shape(BaseModel):
    a: int


@pytest.fixture
def pg_engine(postgres_url):
    """The session's PostgreSQL server, migrated like every Crib database."""
    from crib.storage import open_database

    engine = open_database(postgres_url)
    yield engine
    engine.dispose()


def test_cache_ledger_and_racing_writes_on_postgresql(pg_engine, scripted_server):
    scripted_server.script(lambda req: json.dumps({"a": 1}) if req.get("response_format") else "hi")
    settings = ModelSettings(model="gpt-4o-mini", base_url=scripted_server.url, temperature=0.5,
                             max_tokens=8, concurrency=9, timeout_s=10, max_retries=1)
    llm = LLM(pg_engine, {"solver": settings}, run_id="pg", backoff=Backoff(base_s=0.01))

    async def work():
        racing = await asyncio.gather(*[llm.complete(user("x"), attempt=i % 3) for i in range(9)])
        shaped = await llm.structured(user("p"), Shape, role="solver")
        replay = await llm.complete(user("x"), attempt=2)
        return racing, shaped, replay

    racing, shaped, replay = asyncio.run(work())
    assert all(c.text == "hi" for c in racing) and shaped == Shape(a=1) and replay.cached
    assert cache_rows(pg_engine) == 4  # 3 attempts + 1 structured, whatever the races
    spend = llm.spend()
    assert spend.calls == 11 and spend.cached_calls == 1 and spend.errors == 0
    assert spend.tokens_out == 9 * 1 + 2 and spend.cost_usd > 0  # "hi" x9, {"a": 1}


def test_requests_count_retries_on_postgresql(pg_engine, scripted_server):
    script_retries(scripted_server)
    settings = ModelSettings(model="scripted-model", base_url=scripted_server.url,
                             temperature=0.0, max_tokens=8, timeout_s=10, max_retries=2)
    llm = LLM(pg_engine, {"solver": settings}, run_id="run-r", backoff=Backoff(base_s=0.01))
    asyncio.run(retried_run(llm))
    assert [r.tries for r in calls(pg_engine) if r.run_id == "run-r"] == [3, 3, 2, 1, 0]
    tracked, fresh = llm.spend("run-r"), llm.spend("run-r", fresh=True)
    assert tracked.model_dump() == fresh.model_dump()
    assert fresh.calls == 5 and fresh.requests == scripted_server.served == 9
