"""One thread that commits the LLM layer's writes (ledger rows, cache entries) in order,
several to a transaction; `crib solve` sends its result rows through the same thread.

Why: a write per call through `asyncio.to_thread` cost ≈1.2 ms of CPU a call at concurrency
32 (thread hand-offs, a connection checkout, a commit, and the pool's threads contending for
SQLite's single write lock); one writer draining a queue commits what has piled up in one
transaction. The caller still awaits its write: a call returns only once its ledger row is
committed, so nothing changes for durability (every returned call is recorded). If a group's
transaction fails, each write in it is retried alone, so one bad write never sinks another.

A write may name work to do once it is committed, still on this thread and before its caller
hears of it: `after(result)` per write (in order), then `sync()` once per group for every
distinct `sync` its writes named. `crib solve` appends a problem's JSONL line in `after` and
fsyncs the file in `sync`: one fsync for the lines of a whole group, each line on disk before
its problem is reported done.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable

from sqlalchemy import Connection, Engine

Write = Callable[[Connection], Any]
After = Callable[[Any], None]
Sync = Callable[[], None]
MAX_GROUP = 256  # writes per transaction at most
IDLE_S = 2.0  # the thread ends after this long without writes (a new one starts on demand)


class SqlWriter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def submit(self, write: Write, after: After | None = None, sync: Sync | None = None) -> Future:
        """Queue `write(conn)`; the future resolves once its transaction has committed (and
        `after`, then `sync`, have run: see the module docstring). If `after` or `sync`
        raises, the future carries that error, though the write itself stays committed."""
        future: Future = Future()
        self._queue.put((write, future, after, sync))
        with self._start:  # the thread leaves when idle; the check and the start are atomic
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="crib-sql-writer",
                                                daemon=True)
                self._thread.start()
        return future

    def _run(self) -> None:
        conn: Connection | None = None  # kept while writes keep coming: no pool round trip each
        try:
            while True:
                try:
                    group = [self._queue.get(timeout=IDLE_S)]
                except queue.Empty:
                    with self._start:
                        if self._queue.empty():
                            self._thread = None
                            return
                    continue
                while len(group) < MAX_GROUP:
                    try:
                        group.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                try:
                    conn = self._commit(group, conn)
                except BaseException as exc:  # noqa: BLE001 - never leave a caller waiting
                    _discard(conn)
                    conn = None
                    for item in group:
                        if not item[1].done():
                            item[1].set_exception(exc)
        finally:
            _discard(conn)

    def _commit(self, group: list[tuple], conn: Connection | None) -> Connection | None:
        """Commit the group in one transaction on `conn` (a new one if None); returns the
        connection to keep, or None when it failed (it may be broken: it is dropped)."""
        live = [item for item in group if item[1].set_running_or_notify_cancel()]
        if not live:
            return conn
        try:
            conn = conn if conn is not None else self.engine.connect()
            with conn.begin():
                results = [item[0](conn) for item in live]
        except BaseException as exc:  # noqa: BLE001 - find the culprit: each write alone
            _discard(conn)
            if len(live) == 1:
                live[0][1].set_exception(exc)
            else:
                for item in live:
                    self._alone(item)
            return None
        self._finish(live, results)
        return conn

    def _alone(self, item: tuple) -> None:
        try:
            with self.engine.begin() as conn:
                result = item[0](conn)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            item[1].set_exception(exc)
        else:
            self._finish([item], [result])

    @staticmethod
    def _finish(committed: list[tuple], results: list[Any]) -> None:
        """Committed: run the `after` hooks, each distinct `sync` once, then tell the callers."""
        errors: dict[int, BaseException] = {}
        syncs: dict[Sync, list[int]] = {}
        for i, ((_w, _f, after, sync), result) in enumerate(zip(committed, results)):
            if after is not None:
                try:
                    after(result)
                except BaseException as exc:  # noqa: BLE001 - handed to that write's caller
                    errors[i] = exc
            if sync is not None:
                syncs.setdefault(sync, []).append(i)
        for sync, users in syncs.items():
            try:
                sync()
            except BaseException as exc:  # noqa: BLE001 - every write that needed it hears
                for i in users:
                    errors.setdefault(i, exc)
        for i, ((_w, future, _a, _s), result) in enumerate(zip(committed, results)):
            if i in errors:
                future.set_exception(errors[i])
            else:
                future.set_result(result)


def _discard(conn: Connection | None) -> None:
    """Give a connection back to its pool (SQLAlchemy rolls back whatever it holds)."""
    if conn is not None:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - a broken connection is dropped all the same
            pass
