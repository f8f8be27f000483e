"""Slots: one per concurrent run, each with its own uid and scratch dir.

A Sandbox claims a block of uids (60000 + 64*k ...) with an flock held for its lifetime, so two
Crib processes on one machine never share a uid (the post-run sweep kills every process of the
slot's uid, and RLIMIT_NPROC counts per uid). Nested runs (run_python from an agent) take slots
from a second half of the block, so agents holding every top-level slot cannot deadlock."""
from __future__ import annotations

import asyncio
import fcntl
import os
import weakref
from pathlib import Path

UID_BASE = 60000
BLOCK = 64
MAX_BLOCKS = 85  # stay below 65534 (nobody)
LOCK_DIRS = ("/run/crib-sandbox", "/tmp/crib-sandbox-locks")


class NoFreeUidBlock(RuntimeError):
    pass


def claim_uid_block() -> tuple[int, int]:
    """Returns (first uid, lock fd). The block stays ours while the fd is open."""
    for d in LOCK_DIRS:
        try:
            Path(d).mkdir(mode=0o700, parents=True, exist_ok=True)
            break
        except OSError:
            continue
    else:
        raise NoFreeUidBlock("cannot create a lock directory for sandbox uids")
    for k in range(MAX_BLOCKS):
        fd = os.open(os.path.join(d, f"uids-{k}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UID_BASE + BLOCK * k, fd
    raise NoFreeUidBlock(f"all {MAX_BLOCKS} sandbox uid blocks are in use")


class SlotPool:
    """`size` top-level slots (0..size-1) and `size` nested slots (size..2*size-1)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = {False: list(range(size)), True: list(range(size, 2 * size))}
        self._sems: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _sem(self, nested: bool) -> asyncio.Semaphore:
        # One pair of semaphores per event loop: tests and CLIs run several loops (one at a
        # time) over one Sandbox, and an asyncio.Semaphore belongs to one loop.
        sems = self._sems.setdefault(asyncio.get_running_loop(), {})
        if nested not in sems:
            sems[nested] = asyncio.Semaphore(len(self._free[nested]))
        return sems[nested]

    async def acquire(self, nested: bool = False) -> int:
        await self._sem(nested).acquire()
        return self._free[nested].pop()

    def release(self, slot: int, nested: bool = False) -> None:
        self._free[nested].append(slot)
        self._sem(nested).release()
