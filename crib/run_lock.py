"""One process at a time works on a run: a second `--resume` of a run being worked on is told
so and stops, instead of solving the same problems again.

The lock dies with its holder, so a killed run (kill -9 included) can be resumed at once:
- PostgreSQL: a session advisory lock on a connection held for the run's duration (the
  server drops it when that connection closes or its process dies), so it also works across
  machines sharing the database;
- SQLite: an exclusive `flock` on a file next to the database file (SQLite is local).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import socket
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text


class RunLocked(Exception):
    """Another process is working on the run."""


def _key(run_id: str) -> int:
    """A stable signed 64-bit key for pg_try_advisory_lock (a namespace byte keeps it apart
    from other advisory locks)."""
    digest = hashlib.sha256(b"crib-run:" + run_id.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class RunLock:
    """`with RunLock(engine, run_id):` (or `acquire()` ... `release()`) holds the run; raises
    RunLocked if another process has it."""

    def __init__(self, engine: Engine, run_id: str) -> None:
        self.engine = engine
        self.run_id = run_id
        self._conn: Any = None
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def acquire(self) -> "RunLock":
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            self._lock_postgres()
        elif dialect == "sqlite":
            self._lock_sqlite()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _busy(self, holder: str = "") -> RunLocked:
        return RunLocked(f"run {self.run_id!r} is being worked on by another crib process"
                         f"{holder}; wait for it to finish (or stop it), then resume")

    def _lock_postgres(self) -> None:
        conn = self.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(self.run_id)})
            held = bool(got.scalar())
            conn.commit()  # the session lock outlives the transaction; no transaction left open
        except BaseException:
            conn.close()
            raise
        if not held:
            conn.close()
            raise self._busy()
        self._conn = conn

    def _lock_sqlite(self) -> None:
        database = self.engine.url.database
        if not database or database == ":memory:":
            return  # a private database: no other process can see the run
        name = hashlib.sha256(self.run_id.encode()).hexdigest()[:16]
        path = Path(database).with_name(Path(database).name + ".locks") / f"run-{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            os.close(fd)
            raise self._busy(f" ({holder})" if holder else "") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(self.run_id)})
                conn.commit()
            finally:
                conn.close()
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor drops the flock
