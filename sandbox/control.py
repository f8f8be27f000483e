"""The request/report protocol the host speaks with the processes that start runs: the
fork-server (both tiers' launcher) and the agent tier's per-slot zygotes.

One JSON message per SOCK_SEQPACKET datagram. The host sends `spawn` (with the run's fds
attached), `kill` and `shutdown`; the process answers `ready` once, then one `exit` (or
`error`) per spawn. A reader thread receives the reports, so one client serves any number of
event loops (each future is resolved on its own loop)."""
from __future__ import annotations

import asyncio
import itertools
import json
import socket
import struct
import threading
import weakref
from pathlib import Path
from typing import Any, Callable

CREDS = struct.Struct("iII")  # struct ucred: pid, uid, gid


def memory_kb(pids: list[int]) -> dict[str, int]:
    """Resident and proportional set size of these processes together, in KiB."""
    out = {"rss_kb": 0, "pss_kb": 0}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss"):
                    out[key.lower() + "_kb"] += int(rest.split()[0])
        except OSError:
            pass
    return out


class ControlDied(RuntimeError):
    """The process behind a control socket is gone; the message says which and why."""


class ControlClient:
    """Host end of one control socket. Subclasses start the process and may set `on_death`."""

    what = "the control process"

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        # req id -> (loop to resolve the future on, or None once abandoned; future, None when
        # spawned outside an event loop; on_exit)
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop | None, asyncio.Future | None,
                                       Callable[[], None]]] = {}
        self._ready = threading.Event()
        self._ready_waiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.info: dict[str, Any] = {}
        self.peer_pid: int | None = None  # from SCM_CREDENTIALS, when the socket passes them
        self.dead: str | None = None
        self._thread = threading.Thread(target=self._read, name=f"crib-{self.what}", daemon=True)
        self._thread.start()

    # ---- hooks --------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the process (each kind of client knows how)."""
        raise NotImplementedError

    def _death_reason(self) -> str:
        return f"{self.what} exited"

    def _before_failing_pending(self) -> None:
        """Runs on the reader thread once the socket closed, before pending runs are failed
        and their `on_exit` callbacks called (a zygote waits for its processes to be gone)."""

    def _on_report(self, msg: dict[str, Any]) -> None:
        """Runs on the reader thread for each exit report, before its `on_exit` callback."""

    # ---- reader thread ------------------------------------------------------------------
    def _read(self) -> None:
        while True:
            try:
                data, anc, _flags, _addr = self._sock.recvmsg(
                    1 << 16, socket.CMSG_SPACE(CREDS.size))
            except OSError:
                data = b""
            if not data:
                break
            msg = json.loads(data)
            if msg["op"] == "ready":
                for level, kind, payload in anc:
                    if (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS):
                        self.peer_pid = CREDS.unpack(payload[:CREDS.size])[0]
                self.info = msg
                self._ready.set()
                continue
            with self._lock:
                entry = self._pending.pop(msg.get("id"), None)
            if entry:
                loop, fut, on_exit = entry
                self._on_report(msg)
                _call(on_exit)
                if loop is not None:  # None: abandoned, nobody waits (no loop wake-up)
                    _deliver(loop, _resolve, fut, msg)
        self.dead = self._death_reason()
        self._ready.set()
        self._before_failing_pending()
        with self._lock:
            pending, self._pending = self._pending, {}
        for loop, fut, on_exit in pending.values():
            _call(on_exit)
            if loop is not None:
                _deliver(loop, _fail, fut, ControlDied(self.dead))

    @property
    def ready(self) -> bool:
        """The process reported ready (or died: then `dead` says why)."""
        return self._ready.is_set()

    # ---- requests -----------------------------------------------------------------------
    async def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        if not self._ready.is_set():
            # One waiting thread per loop, however many runs start at once.
            loop = asyncio.get_running_loop()
            fut = self._ready_waiters.get(loop)
            if fut is None:
                fut = self._ready_waiters[loop] = loop.run_in_executor(
                    None, self._ready.wait, timeout)
            await asyncio.shield(fut)
        if self.dead:
            raise ControlDied(self.dead)
        if not self._ready.is_set():
            raise ControlDied(f"{self.what} did not start within {timeout} s")
        return self.info

    def wait_ready_sync(self, timeout: float = 60.0) -> dict[str, Any]:
        self._ready.wait(timeout)
        if self.dead:
            raise ControlDied(self.dead)
        return self.info

    def spawn(self, request: dict[str, Any], fds: list[int],
              on_exit: Callable[[], None]) -> tuple[int, asyncio.Future | None]:
        """Start a run; the future resolves to the exit report (status, cpu_ms, maxrss_kb).
        `on_exit` runs on the reader thread when the run's processes are gone (also when the
        caller stopped waiting, or its event loop closed). Called outside an event loop (a
        thread starting a zygote ahead of its runs), there is no future: only `on_exit`."""
        if self.dead:
            raise ControlDied(self.dead)
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        fut = loop.create_future() if loop is not None else None
        with self._lock:
            req_id = next(self._ids)
            self._pending[req_id] = (loop, fut, on_exit)
            try:
                socket.send_fds(self._sock, [json.dumps({**request, "id": req_id}).encode()], fds)
            except OSError as e:
                del self._pending[req_id]
                raise ControlDied(f"{self.what} is not reachable: {e}") from None
        return req_id, fut

    def abandon(self, req_id: int) -> None:
        """The caller no longer waits for this run's exit report: its future will not be
        resolved (no hop to the event loop for it); `on_exit` still runs when it comes."""
        with self._lock:
            entry = self._pending.get(req_id)
            if entry is not None:
                self._pending[req_id] = (None, entry[1], entry[2])

    def kill(self, req_id: int) -> None:
        """Kill the run's processes, unless its exit was already reported (none are left)."""
        with self._lock:
            if req_id not in self._pending or self.dead:
                return
            try:
                self._sock.send(json.dumps({"op": "kill", "id": req_id}).encode())
            except OSError:
                pass

    def _send(self, msg: dict[str, Any]) -> None:
        with self._lock:
            if not self.dead:
                try:
                    self._sock.send(json.dumps(msg).encode())
                except OSError:
                    pass


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
