"""Small helpers shared by the LLM layer tests."""
import pytest
from sqlalchemy import func, select

from crib.agents.llm import EndpointError
from crib.agents.records import CacheRow, CallRow
from tests.scripted_server import Reply


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def calls(engine) -> list[CallRow]:
    with engine.connect() as conn:
        return list(conn.execute(select(CallRow).order_by(CallRow.id)))


def cache_rows(engine) -> int:
    return count(engine, CacheRow)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


async def retried_run(llm, cache: bool = True) -> None:
    """Five calls, nine requests: a call retried twice, a call that fails after all its
    tries, a stream retried once, a plain call and a cached replay of it (no request; without
    a database there is no cache: one more request)."""
    llm.track("run-r")
    await llm.complete(user("retried"))  # 500, 429, then the reply: 3 requests
    with pytest.raises(EndpointError):
        await llm.complete(user("doomed"))  # 500 × (1 + max_retries=2): 3 requests
    assert [p async for p in llm.stream(user("streamed"))]  # 502, then the reply: 2 requests
    await llm.complete(user("plain"))  # 1 request
    assert (await llm.complete(user("plain"))).cached == cache
    await llm.aclose()


def script_retries(server) -> None:
    server.enqueue(Reply.error(500), Reply.rate_limited(retry_after=None), "ok",
                   Reply.error(500), Reply.error(500), Reply.error(500),
                   Reply.error(502), "streamed ok", "plain ok")
