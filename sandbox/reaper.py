"""The host as child subreaper: orphans of sandboxed runs are re-parented to us, and we reap
them, because PID 1 on these machines reaps slowly and stale zombies exhaust per-uid limits.

We only ever reap zombies whose uid is one of our slot uids, or that sit in a dead
fork-server's process group (it runs in a session of its own). Every process the host starts
on its own (asyncio or subprocess children, the fork-server itself) is neither, so this never
steals an exit status from asyncio's child watcher or from subprocess.Popen."""
from __future__ import annotations

import ctypes
import os
import sys
import time

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


def _zombie_uid_pgid(pid: int) -> tuple[int, int] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            return None
        return os.stat(f"/proc/{pid}").st_uid, int(fields[2])
    except (OSError, IndexError, ValueError):
        return None


def reap_orphans(uids: range, pgid: int | None = None) -> int:
    """Reap zombie children running as one of `uids`, or in process group `pgid` (the
    fork-server's own group: its pre-forked children, orphaned when it died). Returns how
    many were reaped."""
    reaped = 0
    for pid in _children():
        found = _zombie_uid_pgid(pid)
        if found is not None and (found[0] in uids or (pgid is not None and found[1] == pgid)):
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    reaped += 1
            except ChildProcessError:
                pass
    return reaped


def reap_group(uids: range, pgid: int, timeout_s: float = 2.0) -> None:
    """Reap what is left of process group `pgid` (a dead fork-server's: its pre-forked child
    dies of PDEATHSIG a moment after it), waiting up to `timeout_s` for it to die."""
    deadline = time.monotonic() + timeout_s
    while True:
        reap_orphans(uids, pgid=pgid)
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)
