"""Host side of the fork-server: start it with a clean environment; it then launches every run
of the snippet tier and every zygote of the agent tier (see sandbox/control.py for the
protocol and guest/crib_forkserver.py for the server)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

from crib.sandbox.control import ControlClient, ControlDied, memory_kb
from crib.sandbox.guest import GUEST_DIR

# The only variables the fork-server (and through it every run) starts with.
CLEAN_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1",
             "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}

ForkServerDied = ControlDied
WARM_NAME = "crib-warm"  # what `ps` shows for a snippet slot's warm child, confined, till its run


class ForkServerClient(ControlClient):
    what = "the fork-server"

    def __init__(self, interpreter: str, config: dict[str, Any], run_root: Path) -> None:
        cfg_path = run_root / "forkserver.json"
        cfg_path.write_text(json.dumps(config))
        os.chmod(cfg_path, 0o600)
        sock, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._log = open(run_root / "forkserver.log", "ab")
        self.proc = subprocess.Popen(
            [interpreter, "-I", "-S", "-B", str(GUEST_DIR / "crib_forkserver.py"), str(cfg_path),
             str(child.fileno())],
            env=dict(CLEAN_ENV), pass_fds=[child.fileno()], stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=self._log, cwd="/",
            start_new_session=True)  # no terminal signals; its process group is its own
        child.close()
        super().__init__(sock)

    def warm_children(self) -> list[dict[str, int]]:
        """The snippet slots' warm children (each waiting for its slot's next run): pid and
        memory (most of it shared with the fork-server)."""
        fs = self.proc.pid
        try:
            with open(f"/proc/{fs}/task/{fs}/children") as f:
                pids = [int(p) for p in f.read().split()]
        except OSError:
            return []
        out = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() != WARM_NAME:
                        continue
            except OSError:
                continue
            out.append({"pid": pid, **memory_kb([pid])})
        return out

    def _death_reason(self) -> str:
        return f"the fork-server exited (see {self._log.name})"

    def close(self) -> None:
        self._send({"op": "shutdown"})
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._sock.close()
        self._log.close()
