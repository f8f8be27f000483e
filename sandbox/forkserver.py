"""Host side of the fork-server: start it with a clean environment, send spawn/kill requests,
and turn its exit reports into asyncio futures.

A reader thread receives the reports, so one Sandbox serves any number of event loops (each
future is resolved on its own loop)."""
from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import subprocess
import threading
import weakref
from pathlib import Path
from typing import Any, Callable

from sandbox.guest import GUEST_DIR

# The only variables the fork-server (and through it every run) starts with.
CLEAN_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1",
             "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}


class ForkServerDied(RuntimeError):
    pass


class ForkServerClient:
    def __init__(self, interpreter: str, config: dict[str, Any], run_root: Path) -> None:
        cfg_path = run_root / "forkserver.json"
        cfg_path.write_text(json.dumps(config))
        os.chmod(cfg_path, 0o600)
        self._sock, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._log = open(run_root / "forkserver.log", "ab")
        self.proc = subprocess.Popen(
            [interpreter, "-I", "-S", "-B", str(GUEST_DIR / "crib_forkserver.py"), str(cfg_path),
             str(child.fileno())],
            env=dict(CLEAN_ENV), pass_fds=[child.fileno()], stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=self._log, cwd="/",
            start_new_session=True)  # no terminal signals; its process group is its own
        child.close()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future, Callable]] = {}
        self._ready = threading.Event()
        self._ready_waiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.info: dict[str, Any] = {}
        self.dead: str | None = None
        self._thread = threading.Thread(target=self._read, name="crib-forkserver", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            msg = json.loads(data)
            if msg["op"] == "ready":
                self.info = msg
                self._ready.set()
                continue
            with self._lock:
                entry = self._pending.pop(msg.get("id"), None)
            if entry:
                loop, fut, on_exit = entry
                _call(on_exit)
                _deliver(loop, _resolve, fut, msg)
        self.dead = f"the fork-server exited (see {self._log.name})"
        self._ready.set()
        with self._lock:
            pending, self._pending = self._pending, {}
        for loop, fut, on_exit in pending.values():
            _call(on_exit)  # its children died with it (PDEATHSIG)
            _deliver(loop, _fail, fut, ForkServerDied(self.dead))

    async def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        if not self._ready.is_set():
            # One waiting thread per loop, however many runs start at once.
            loop = asyncio.get_running_loop()
            fut = self._ready_waiters.get(loop)
            if fut is None:
                fut = self._ready_waiters[loop] = loop.run_in_executor(None, self._ready.wait, timeout)
            await asyncio.shield(fut)
        if self.dead:
            raise ForkServerDied(self.dead)
        if not self._ready.is_set():
            raise ForkServerDied(f"the fork-server did not start within {timeout} s")
        return self.info

    def wait_ready_sync(self, timeout: float = 60.0) -> dict[str, Any]:
        self._ready.wait(timeout)
        if self.dead:
            raise ForkServerDied(self.dead)
        return self.info

    def spawn(self, request: dict[str, Any], fds: list[int],
              on_exit: Callable[[], None]) -> tuple[int, asyncio.Future]:
        """Start a run; the future resolves to the exit report (status, cpu_ms, maxrss_kb).
        `on_exit` runs on the reader thread when the run's processes are gone (also when the
        caller stopped waiting, or its event loop closed)."""
        if self.dead:
            raise ForkServerDied(self.dead)
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self._lock:
            req_id = next(self._ids)
            self._pending[req_id] = (loop, fut, on_exit)
            socket.send_fds(self._sock, [json.dumps({**request, "id": req_id}).encode()], fds)
        return req_id, fut

    def kill(self, req_id: int) -> None:
        with self._lock:
            if not self.dead:
                self._sock.send(json.dumps({"op": "kill", "id": req_id}).encode())

    def close(self) -> None:
        try:
            with self._lock:
                self._sock.send(json.dumps({"op": "shutdown"}).encode())
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._sock.close()
        self._log.close()


def _call(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - never let a callback kill the reader thread
        pass


def _deliver(loop: asyncio.AbstractEventLoop, fn: Callable, *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # the loop is closed: nobody waits for this any more
        pass


def _resolve(fut: asyncio.Future, msg: dict[str, Any]) -> None:
    if not fut.done():
        fut.set_result(msg)


def _fail(fut: asyncio.Future, exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
