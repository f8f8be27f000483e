"""The LLM layer's SQL writer thread: grouped commits, each caller told about its own write."""
import asyncio
import threading

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from agents.llm.sql_writer import SqlWriter


@pytest.fixture
def table_engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    yield engine
    engine.dispose()


def insert(k):
    return lambda conn: conn.execute(text("INSERT INTO t (k) VALUES (:k)"), {"k": k}) and k


def test_concurrent_writes_all_commit_and_a_bad_one_fails_alone(table_engine):
    writer = SqlWriter(table_engine)

    async def main():
        futures = [asyncio.wrap_future(writer.submit(insert(k))) for k in range(200)]
        futures.append(asyncio.wrap_future(writer.submit(insert(7))))  # duplicate key
        return await asyncio.gather(*futures, return_exceptions=True)

    results = asyncio.run(main())
    assert results[:200] == list(range(200))
    assert isinstance(results[200], IntegrityError)  # only the bad write's caller hears of it
    with table_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 200


def test_a_cancelled_write_that_has_not_started_is_skipped(table_engine):
    writer = SqlWriter(table_engine)
    started, release = threading.Event(), threading.Event()

    def blocking(conn):
        started.set()
        release.wait(10)

    blocker = writer.submit(blocking)
    assert started.wait(10)  # the writer is inside the first transaction
    skipped = writer.submit(insert(1))
    assert skipped.cancel()  # still queued
    done = writer.submit(insert(2))
    release.set()
    assert done.result(timeout=10) == 2 and blocker.result(timeout=10) is None
    with table_engine.connect() as conn:
        assert [r[0] for r in conn.exec_driver_sql("SELECT k FROM t")] == [2]
