"""Host side of the agent tier's zygotes: one long-lived bubblewrap sandbox per slot whose
process (guest/crib_zygote.py) forks a child per run.

A zygote is started lazily by the fork-server (the same path, uid, rlimit and seccomp policy as
any agent-tier process) with the host end of a control socket; it speaks the protocol of
sandbox/control.py. If it dies, runs in flight fail with a clear error once its sandbox is gone
(so the slot is clean before it is used again), and the Sandbox starts a fresh one on the
slot's next run. A zygote that could not restore its sandbox after a run reports `retire` and
exits; it is replaced the same way."""
from __future__ import annotations

import asyncio
import os
import socket
import threading
from pathlib import Path
from typing import Any

from crib.sandbox.control import ControlClient, memory_kb
from crib.sandbox.forkserver import ForkServerClient

# The zygote's own limits: runs lower theirs in the child, and a process of the slot uid
# cannot raise a hard limit later, so only what no run may raise is set here (the rest
# stays at the fork-server's limits; a run asking for more gets those).
ZYGOTE_RLIMITS = {"core": 0}
GONE_WAIT_S = 10.0


def _retrieve(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


class ZygoteClient(ControlClient):
    what = "agent-tier zygote"

    def __init__(self, fs: ForkServerClient, slot: int, spawn: dict[str, Any],
                 log_path: Path) -> None:
        """`spawn`: the fork-server request fields for this slot (uid, scratch, env, argv)."""
        self.slot = slot
        self.retiring = False
        self.closed = False
        self._fs = fs
        self._gone = threading.Event()  # the fork-server reaped the sandbox and swept the uid
        self._log_path = log_path
        host, guest = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # The kernel then attaches the sender's pid (as seen here) to each message.
        host.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            self._fs_id, fut = fs.spawn({**spawn, "op": "spawn", "tier": "agent",
                                         "rlimits": ZYGOTE_RLIMITS},
                                        [log_fd, log_fd, guest.fileno()], self._gone.set)
        except BaseException:
            host.close()
            raise
        finally:
            guest.close()
            os.close(log_fd)
        if fut is not None:
            fut.add_done_callback(_retrieve)
        super().__init__(host)

    @property
    def usable(self) -> bool:
        return not (self.dead or self.retiring or self.closed)

    @property
    def busy(self) -> bool:
        """A run is in flight (started and not yet reported)."""
        with self._lock:
            return bool(self._pending)

    def _death_reason(self) -> str:
        try:
            with open(self._log_path, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - 600))
                tail = f.read().decode(errors="replace").strip()
        except OSError:
            tail = ""
        why = f"the agent-tier sandbox of slot {self.slot} (its zygote) is gone"
        return why + (f"; its log ends: {tail}" if tail else "")

    def _on_report(self, msg: dict[str, Any]) -> None:
        if msg.get("retire"):
            self.retiring = True  # before the slot is released: the next run starts afresh

    def _before_failing_pending(self) -> None:
        # The zygote was PID 1 of the sandbox, so its processes die with it; wait until the
        # fork-server has reaped the sandbox and swept the uid before the slot is freed.
        if not self._gone.wait(GONE_WAIT_S):
            self._fs.kill(self._fs_id)
            self._gone.wait(GONE_WAIT_S)

    def close(self) -> None:
        """Ask the zygote to stop (it kills its sandbox's processes and exits); does not wait.
        The fork-server kills whatever is left when it shuts down."""
        self.closed = True
        self._send({"op": "shutdown"})
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def pids(self) -> list[int]:
        """Host pids of this sandbox's long-lived processes: bubblewrap, then the zygote."""
        if self.peer_pid is None or self.dead:
            return []
        try:
            stat = Path(f"/proc/{self.peer_pid}/stat").read_text()
        except OSError:
            return []
        return [int(stat.rsplit(")", 1)[1].split()[1]), self.peer_pid]

    def memory_kb(self) -> dict[str, int]:
        """Resident and proportional set size of the zygote and its bubblewrap, in KiB."""
        return memory_kb(self.pids())
