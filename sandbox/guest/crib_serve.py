"""What the fork-server and the zygotes share: loading modules ahead of the runs they serve,
the last steps of a forked run (its fd layout, the job, never returning into the server), and
the control loop (one JSON request per SOCK_SEQPACKET message, fds attached).

Trusted; runs with `-I -S`, so it imports only the standard library, and of that the C parts
where the Python wrappers cost every zygote's start: `_socket`, not `socket` (its enums), and
`select.epoll`, not `selectors`."""
from __future__ import annotations

import _socket
import array
import fcntl
import json
import os
import select
import signal
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (postponed): importing typing costs every zygote ≈5 ms
    from typing import Any, Callable, Protocol

    class Server(Protocol):
        ctl: _socket.socket

        def spawn(self, req: dict[str, Any], fds: list[int]) -> None: ...
        def kill(self, req_id: int) -> None: ...
        def shutdown(self) -> None: ...
        def reap(self) -> None: ...
        def wait_s(self) -> float | None: ...  # how long to sleep with no request or child exit
        def tick(self) -> None: ...  # after every wake-up, once exited children are reaped

SETUP_FAILED = 125  # exit code of a child that could not set itself up


def lay_out(fds: list[int]) -> None:
    """Make `fds` a forked child's descriptors 0, 1, 2, ... in order and close every other one.
    They are first moved to numbers the dup2s cannot clobber."""
    for target, fd in enumerate([fcntl.fcntl(fd, fcntl.F_DUPFD, 16) for fd in fds]):
        os.dup2(fd, target)
    os.closerange(len(fds), 1 << 16)


def run_job() -> None:
    """Run the job in this set-up, confined child; never returns."""
    np_random = sys.modules.get("numpy.random")
    if np_random is not None:  # fork does not reseed numpy's global generator
        np_random.seed()
    import crib_guest

    os._exit(crib_guest.run_job())


def never_return(child: Callable[[], None]) -> None:
    """Run a forked child's part; whatever it raises, the child exits and never returns into
    the server's loop."""
    try:
        child()
    finally:
        os._exit(SETUP_FAILED)


def preload(modules: list[str]) -> list[str]:
    """Import what the runs use, so each forked run finds it loaded; returns what loaded."""
    loaded = []
    for name in modules:
        try:
            __import__(name)
            loaded.append(name)
        except Exception:  # noqa: BLE001 - a missing optional module is fine
            pass
    return loaded


def recv_fds(sock: _socket.socket, bufsize: int, maxfds: int) -> tuple[bytes, list[int]]:
    """One message and the fds attached to it (socket.recv_fds, without socket.py)."""
    fds = array.array("i")
    data, ancdata, _flags, _addr = sock.recvmsg(bufsize, _socket.CMSG_LEN(maxfds * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return data, list(fds)


def serve(server: Server) -> None:
    """Serve requests until the host closes the control socket or asks for shutdown. A child's
    exit wakes the loop through the signal wakeup fd."""
    rpipe, wpipe = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wpipe)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    ctl = server.ctl.fileno()
    poller = select.epoll(2, select.EPOLL_CLOEXEC)
    poller.register(ctl, select.EPOLLIN)
    poller.register(rpipe, select.EPOLLIN)
    while True:
        wait = server.wait_s()
        # Requests first: a run waiting to start matters more than reaping the last one.
        for fd, _ in sorted(poller.poll(-1 if wait is None else wait), key=lambda ev: ev[0] != ctl):
            if fd == rpipe:
                try:
                    os.read(rpipe, 4096)
                except BlockingIOError:
                    pass
                continue
            data, fds = recv_fds(server.ctl, 1 << 16, 8)
            if not data:
                server.shutdown()
            req = json.loads(data)
            if req["op"] == "spawn":
                server.spawn(req, fds)
            elif req["op"] == "kill":
                server.kill(req["id"])
            elif req["op"] == "shutdown":
                server.shutdown()
        server.reap()
        server.tick()
