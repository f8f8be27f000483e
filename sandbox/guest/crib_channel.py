"""Guest side of the narrow channel: JSON lines over the inherited socket on fd 3.

One request at a time (a lock), each answered by a line with the same id. Concurrency is the
host's business: a `complete_many` request holds several completions, which the host runs at
once and answers together, so the guest needs no second request in flight. Plain os.read and
os.write on the fd (no socket module: socket() is denied anyway, and startup stays short).
The host validates everything; this module only frames messages."""
from __future__ import annotations

import _thread
import os

import crib_json as json

RPC_FD = 3


class ChannelError(RuntimeError):
    """The host refused a request (budget spent, bad parameters, no handler) or the channel
    broke."""


class BudgetExceeded(ChannelError):
    """A per-run budget (LLM calls, tokens, nested runs) is spent."""


class _Channel:
    def __init__(self, fd: int = RPC_FD) -> None:
        self._fd = fd
        self._buf = b""
        self._lock = _thread.allocate_lock()
        self._next_id = 0

    def _send(self, obj: dict) -> None:
        data = (json.dumps(obj, default=repr) + "\n").encode()
        while data:
            data = data[os.write(self._fd, data):]

    def _readline(self) -> bytes:
        while b"\n" not in self._buf:
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                raise ChannelError("the host closed the channel")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def call(self, method: str, params: dict) -> object:
        with self._lock:
            self._next_id += 1
            msg_id = self._next_id
            self._send({"id": msg_id, "method": method, "params": params})
            reply = json.loads(self._readline())
            if reply.get("id") != msg_id:
                raise ChannelError(f"reply id {reply.get('id')!r} does not match request {msg_id}")
            if "error" in reply:
                kind = BudgetExceeded if reply.get("kind") == "budget" else ChannelError
                raise kind(reply["error"])
            return reply.get("result")

    def notify(self, method: str, params: dict) -> None:
        """A message without a reply (the run's final result)."""
        with self._lock:
            self._send({"method": method, "params": params})


_channel: _Channel | None = None


def channel() -> _Channel:
    global _channel
    if _channel is None:
        try:
            os.fstat(RPC_FD)
        except OSError:
            raise ChannelError("no channel to the host (fd 3 is not open)") from None
        _channel = _Channel()
    return _channel
