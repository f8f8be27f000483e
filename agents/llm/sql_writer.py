"""One thread that commits the LLM layer's writes (ledger rows, cache entries) in order,
several to a transaction.

Why: a write per call through `asyncio.to_thread` cost ≈1.2 ms of CPU a call at concurrency
32 (thread hand-offs, a connection checkout, a commit, and the pool's threads contending for
SQLite's single write lock); one writer draining a queue commits what has piled up in one
transaction. The caller still awaits its write: a call returns only once its ledger row is
committed, so nothing changes for durability (every returned call is recorded). If a group's
transaction fails, each write in it is retried alone, so one bad write never sinks another.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable

from sqlalchemy import Connection, Engine

Write = Callable[[Connection], Any]
MAX_GROUP = 256  # writes per transaction at most
IDLE_S = 2.0  # the thread ends after this long without writes (a new one starts on demand)


class SqlWriter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def submit(self, write: Write) -> Future:
        """Queue `write(conn)`; the future resolves once its transaction has committed."""
        future: Future = Future()
        self._queue.put((write, future))
        with self._start:  # the thread leaves when idle; the check and the start are atomic
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="crib-sql-writer",
                                                daemon=True)
                self._thread.start()
        return future

    def _run(self) -> None:
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
            self._commit(group)

    def _commit(self, group: list[tuple[Write, Future]]) -> None:
        live = [(w, f) for w, f in group if f.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            with self.engine.begin() as conn:
                results = [w(conn) for w, _ in live]
        except BaseException as exc:  # noqa: BLE001 - find the culprit: each write alone
            if len(live) == 1:
                live[0][1].set_exception(exc)
            else:
                for write, future in live:
                    self._alone(write, future)
            return
        for (_, future), result in zip(live, results):
            future.set_result(result)

    def _alone(self, write: Write, future: Future) -> None:
        try:
            with self.engine.begin() as conn:
                result = write(conn)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            future.set_exception(exc)
        else:
            future.set_result(result)
