"""The host as child subreaper: orphans of sandboxed runs are re-parented to us, and we reap
them, because PID 1 on these machines reaps slowly and stale zombies exhaust per-uid limits.

We only ever reap zombies whose uid is one of our slot uids. Every process the host starts on
its own (asyncio or subprocess children, the fork-server itself) runs as another uid, so this
never steals an exit status from asyncio's child watcher or from subprocess.Popen."""
from __future__ import annotations

import ctypes
import os
import sys

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _children() -> set[int]:
    pids: set[int] = set()
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return pids
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                pids.update(int(p) for p in f.read().split())
        except OSError:
            continue
    return pids


def _zombie_uid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
    except OSError:
        return None
    state = uid = None
    for line in status.splitlines():
        if line.startswith("State:"):
            state = line.split()[1]
        elif line.startswith("Uid:"):
            uid = int(line.split()[1])
            break
    return uid if state == "Z" else None


def reap_orphans(uids: range) -> int:
    """Reap zombie children running as one of `uids`; returns how many were reaped."""
    reaped = 0
    for pid in _children():
        uid = _zombie_uid(pid)
        if uid is not None and uid in uids:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    reaped += 1
            except ChildProcessError:
                pass
    return reaped
