"""The LLM layer's SQL writer thread: grouped commits, each caller told about its own write."""
import asyncio
import threading

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from crib.agents.llm.sql_writer import SqlWriter


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


def count(engine):
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM t").scalar()


def test_after_hooks_see_their_write_committed_and_each_sync_runs_once_per_group(table_engine):
    """What `crib solve` relies on: a problem's JSONL line is written after its row is
    committed, and one fsync serves the lines of a whole group."""
    writer = SqlWriter(table_engine)
    started, release = threading.Event(), threading.Event()
    seen, syncs = [], []

    def blocking(conn):
        started.set()
        release.wait(10)

    def after(k):
        seen.append((k, count(table_engine)))  # from another connection: already committed

    def sync():
        syncs.append(len(seen))

    blocker = writer.submit(blocking)
    assert started.wait(10)
    futures = [writer.submit(insert(k), after=after, sync=sync) for k in range(5)]
    release.set()  # the five queued writes now commit together, then their hooks run
    assert [f.result(timeout=10) for f in futures] == list(range(5))
    assert blocker.result(timeout=10) is None
    assert seen == [(k, 5) for k in range(5)]  # in order, each after the group's commit
    assert syncs == [5]  # once for the group, after every `after`


def test_a_failing_hook_is_its_callers_error_and_the_write_stays_committed(table_engine):
    writer = SqlWriter(table_engine)

    def bad_after(_):
        raise OSError("disk full")

    def bad_sync():
        raise OSError("fsync failed")

    async def main():
        return await asyncio.gather(
            asyncio.wrap_future(writer.submit(insert(1), after=bad_after)),
            asyncio.wrap_future(writer.submit(insert(2))),
            asyncio.wrap_future(writer.submit(insert(3), sync=bad_sync)),
            return_exceptions=True)

    first, second, third = asyncio.run(main())
    assert isinstance(first, OSError) and str(first) == "disk full"
    assert second == 2
    assert isinstance(third, OSError) and str(third) == "fsync failed"
    assert count(table_engine) == 3  # the hooks ran after the commit, which stands
