"""A real, throw-away local Ray cluster for tests: `ray start --head` in a temp dir, free ports.

The cluster's processes all live in the process group of the `ray start` we launch (in a new
session), so stopping signals that group by its id: unlike `ray stop`, which stops every Ray
process of this user on the machine, it cannot touch a cluster someone else is running here.
The cluster starts with no OPENAI_* / CRIB_* variables, so a key the workers use can only have
come from the host (the path a remote cluster without keys takes).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_cli() -> str:
    return str(Path(sys.executable).with_name("ray"))


class RayCluster:
    def __init__(self, num_cpus: int = 2) -> None:
        self.num_cpus = num_cpus
        # Ray's socket paths must stay short (AF_UNIX limit): a short temp dir.
        self.dir = Path(tempfile.mkdtemp(prefix="crib-ray-", dir="/tmp"))
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.pgid: int | None = None
        self.start_s: float | None = None

    def start(self) -> "RayCluster":
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OPENAI_", "CRIB_", "RAY_"))}
        cmd = [ray_cli(), "start", "--head", "--num-cpus", str(self.num_cpus),
               "--node-ip-address", "127.0.0.1", "--port", str(self.port),
               "--ray-client-server-port", str(_free_port()),
               "--dashboard-port", str(_free_port()),
               "--dashboard-agent-listen-port", str(_free_port()),
               "--min-worker-port", "0", "--max-worker-port", "0",
               "--disable-usage-stats", "--include-dashboard=false",
               "--include-log-monitor=false",
               "--temp-dir", str(self.dir)]
        started = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True, cwd=self.dir)
        self.pgid = proc.pid  # its own session: the group id is its pid
        out, _ = proc.communicate(timeout=180)
        if proc.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray start failed ({proc.returncode}):\n{out[-3000:]}")
        self.start_s = time.monotonic() - started
        return self

    def stop(self) -> None:
        if self.pgid is not None:
            for sig, wait_s in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(self.pgid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + wait_s
                while time.monotonic() < deadline and _group_alive(self.pgid):
                    time.sleep(0.2)
                if not _group_alive(self.pgid):
                    break
            self.pgid = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _group_alive(pgid: int) -> bool:
    """Any process of the group still running (zombies waiting for PID 1 do not count)."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
