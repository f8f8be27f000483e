"""Slots: one per concurrent run, each with its own uid and scratch dir.

A Sandbox claims adjacent blocks of 64 uids (60000 + 64*k ...) with flocks held for its
lifetime, so two Crib processes on one machine never share a uid (the post-run sweep kills every
process of the slot's uid, and RLIMIT_NPROC counts per uid). Its uids come in three sets of
`slots`: top-level runs of the snippet tier, nested runs (run_python from an agent: a set of
their own, so agents holding every top-level slot cannot deadlock), and the agent tier's
zygotes (a set of their own, so no snippet run shares a uid with a zygote and could renice,
prlimit or signal it).

A slot is released when the fork-server reports its process dead and swept, which may happen
after the run's coroutine returned (a run ends as soon as the guest reports) or on another
thread, even after that event loop closed: so the pool is thread-safe and loop-independent."""
from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from pathlib import Path
from typing import Callable, NamedTuple

UID_BASE = 60000
BLOCK = 64
MAX_BLOCKS = 85  # stay below 65534 (nobody)
LOCK_DIRS = ("/run/crib-sandbox", "/tmp/crib-sandbox-locks")
RECHECK_S = 0.025  # how often a waiter with a `choose` asks again without a release

Choose = Callable[[list[int]], "int | None"]  # free slots -> the slot to take, or None


class NoFreeUidBlock(RuntimeError):
    pass


def claim_uid_block(n_blocks: int = 1) -> tuple[int, list[int]]:
    """Returns (first uid, lock fds) for `n_blocks` adjacent blocks. They stay ours while the
    fds are open."""
    for d in LOCK_DIRS:
        try:
            Path(d).mkdir(mode=0o700, parents=True, exist_ok=True)
            break
        except OSError:
            continue
    else:
        raise NoFreeUidBlock("cannot create a lock directory for sandbox uids")
    for k in range(MAX_BLOCKS - n_blocks + 1):
        fds: list[int] = []
        for j in range(k, k + n_blocks):
            fd = os.open(os.path.join(d, f"uids-{j}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                         0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                break
            fds.append(fd)
        if len(fds) == n_blocks:
            return UID_BASE + BLOCK * k, fds
        for fd in fds:
            os.close(fd)
    raise NoFreeUidBlock(f"all {MAX_BLOCKS} sandbox uid blocks are in use")


class _Waiter(NamedTuple):
    loop: asyncio.AbstractEventLoop
    fut: asyncio.Future
    nested: bool
    takes_any: bool  # no `choose`: any free slot will do


class SlotPool:
    """`size` top-level slots (0..size-1) and `size` nested slots (size..2*size-1)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._free = {False: list(range(size)), True: list(range(size, 2 * size))}
        self._waiters: list[_Waiter] = []  # oldest first

    def free_count(self, nested: bool = False) -> int:
        with self._lock:
            return len(self._free[nested])

    def free_slots(self, nested: bool = False) -> list[int]:
        """The free slots, the one `acquire` would hand out first last."""
        with self._lock:
            return list(self._free[nested])

    async def acquire(self, nested: bool = False, choose: Choose | None = None) -> int:
        """A free slot: the most recently released one, or the one `choose(free)`
        picks (None: none of them yet; it is asked again on the next release or after
        RECHECK_S, since what it weighs, such as a zygote becoming ready, changes without one)."""
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                free = self._free[nested]
                if free:
                    slot = free[-1] if choose is None else choose(list(free))
                    if slot is not None:
                        free.remove(slot)
                        return slot
                    self._wake_one(nested, takes_any=True)  # declined: someone may take it
                waiter = _Waiter(loop, loop.create_future(), nested, choose is None)
                self._waiters.append(waiter)
            try:
                if choose is None:
                    await waiter.fut
                else:
                    await asyncio.wait_for(asyncio.shield(waiter.fut), RECHECK_S)
            except asyncio.TimeoutError:
                pass
            except BaseException:  # cancelled: a wake-up meant for this waiter goes on
                with self._lock:
                    if waiter not in self._waiters and self._free[nested]:
                        self._wake_one(nested)
                raise
            finally:
                with self._lock:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)

    def release(self, slot: int, nested: bool = False) -> None:
        """From any thread. Wakes the oldest waiter of that kind (not all of them: with 32
        runs waiting, every release woke 32 coroutines to race for one slot)."""
        with self._lock:
            self._free[nested].append(slot)
            self._wake_one(nested)

    def _wake_one(self, nested: bool, takes_any: bool = False) -> None:
        """Under the lock: wake the oldest waiter of that kind (that takes any slot, if asked)."""
        for w in list(self._waiters):
            if w.nested != nested or (takes_any and not w.takes_any):
                continue
            self._waiters.remove(w)
            try:
                w.loop.call_soon_threadsafe(_wake, w.fut)
                return
            except RuntimeError:  # that loop is closed: the next one
                continue


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)
