"""What the fork-server and the zygotes share: loading modules ahead of the runs they serve,
the last steps of a forked run (its fd layout, the job, never returning into the server), and
the control loop (one JSON request per SOCK_SEQPACKET message, fds attached).

Trusted; runs with `-I -S`, so it imports only the standard library."""
from __future__ import annotations

import fcntl
import json
import os
import selectors
import signal
import socket
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (postponed): importing typing costs every zygote ≈5 ms
    from typing import Any, Callable, Protocol

    class Server(Protocol):
        ctl: socket.socket

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


def serve(server: Server) -> None:
    """Serve requests until the host closes the control socket or asks for shutdown. A child's
    exit wakes the loop through the signal wakeup fd."""
    rpipe, wpipe = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wpipe)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(server.ctl, selectors.EVENT_READ, "ctl")
    sel.register(rpipe, selectors.EVENT_READ, "sig")
    while True:
        # Requests first: a run waiting to start matters more than reaping the last one.
        for key, _ in sorted(sel.select(server.wait_s()), key=lambda ev: ev[0].data != "ctl"):
            if key.data == "sig":
                try:
                    os.read(rpipe, 4096)
                except BlockingIOError:
                    pass
                continue
            data, fds, _flags, _addr = socket.recv_fds(server.ctl, 1 << 16, 8)
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
