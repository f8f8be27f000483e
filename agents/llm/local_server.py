"""The embedded llama.cpp server (xllamacpp) in a child process on 127.0.0.1.

Why a child process: deleting an xllamacpp `Server` in-process can hang, while a child that
exits on SIGTERM stops cleanly. The child never outlives us: it asks the kernel for SIGKILL
when its parent dies (PR_SET_PDEATHSIG), it runs in its own session so a terminal Ctrl-C
reaches only the parent (which then stops it with SIGTERM), and an atexit hook stops any
server still running at interpreter exit.

Note: PR_SET_PDEATHSIG fires when the *thread* that spawned the child exits, so start the
server from a long-lived thread (the main thread or the event-loop thread), not a worker.
"""
from __future__ import annotations

import asyncio
import atexit
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1
_running: set["LocalServer"] = set()


class LocalServerError(Exception):
    """The embedded server failed to start or answer (message includes its log tail)."""


def default_threads() -> int:
    """Threads for prompt processing and generation: every core but one. llama.cpp's threads
    meet at a barrier for every token, so one thread waiting for a core stalls them all: with
    all cores on a 2-core machine the 0.5B model fell to 0.5 tok/s while anything else ran
    (Crib's own sandbox and agents during a solve, other jobs), against 4-6 tok/s with one
    thread (bench/local_model_settings.py, load 6-11). The core left over is what a busy
    machine takes anyway; a quiet one gives up at most half its speed (1.5B: 9-10 tok/s with
    2 threads, 5-5.5 with 1). Set `local_threads` for a machine kept free for the model."""
    return max(1, (os.cpu_count() or 1) - 1)


def _die_with_parent(parent_pid: int) -> None:
    """In the child, first thing: ask for SIGKILL when the parent dies, then make sure it has
    not died already (done here rather than in a preexec_fn, which is unsafe in a parent
    that runs threads)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        return  # not Linux: the parent's atexit hook and SIGTERM still stop us
    if os.getppid() != parent_pid:
        os._exit(1)


class LocalServer:
    """`with LocalServer(path) as srv:` or `async with ...`: `srv.base_url` ends in /v1."""

    def __init__(
        self,
        model_path: str | Path,
        ctx: int = 8192,
        threads: int | None = None,
        gen_threads: int | None = None,
        parallel: int = 1,
        poll: int | None = None,
        batch: int | None = None,
        warmup: bool = True,
        alias: str | None = None,
        startup_timeout_s: float = 300.0,
        log_path: str | Path | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.ctx = ctx
        self.threads = threads or default_threads()  # prompt processing
        self.gen_threads = gen_threads or self.threads
        self.parallel = parallel
        # llama.cpp's busy-wait level (0..100). Several threads: 0, a waiting thread yields
        # the core a late one needs (2 threads at load ~10: 0.95 tok/s with 0, 0.48 with 50).
        # One thread has no one to wait for: 50 (4.6 tok/s against 4.0 with 0, within noise).
        self.poll = poll if poll is not None else (50 if self.gen_threads == 1 else 0)
        self.batch = batch  # prompt tokens decoded per step (n_batch = n_ubatch); None: llama.cpp's
        self.warmup = warmup  # one empty decode at start; off saves a second in tests
        self.alias = alias or self.model_path.stem
        self.startup_timeout_s = startup_timeout_s
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen | None = None
        self.base_url: str = ""
        self._log_file: IO[bytes] | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def _spawn(self) -> None:
        if not self.model_path.is_file():
            raise LocalServerError(f"model file {self.model_path} does not exist")
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="crib-llama-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        self._log_file = open(self.log_path, "ab")
        args = {
            "model": str(self.model_path), "ctx": self.ctx, "threads": self.threads,
            "gen_threads": self.gen_threads,
            "parallel": self.parallel, "poll": self.poll, "batch": self.batch,
            "warmup": self.warmup,
            "alias": self.alias, "parent": os.getpid(),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "crib.agents.llm.local_server", json.dumps(args)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log_file,
            start_new_session=True, close_fds=True,  # own session: Ctrl-C reaches only us
            # The child needs no secrets: give it a minimal environment.
            env={k: v for k, v in os.environ.items()
                 if k in ("PATH", "HOME", "LANG", "PYTHONPATH")},
        )
        _running.add(self)

    def _log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:] if self.log_path else ""
        except OSError:
            return ""

    def _fail(self, what: str) -> LocalServerError:
        self.stop()
        return LocalServerError(f"embedded llama.cpp server ({self.model_path.name}): {what}\n"
                                f"log {self.log_path}:\n{self._log_tail()}")

    def _read_address(self, deadline: float) -> None:
        assert self.process and self.process.stdout
        line = self.process.stdout.readline().decode().strip()  # child prints after loading
        if not line:
            raise self._fail(f"exited with code {self.process.wait()} before listening")
        self.base_url = json.loads(line)["address"].rstrip("/") + "/v1"
        while time.monotonic() < deadline:
            if self._answers():
                return
            if self.process.poll() is not None:
                raise self._fail(f"exited with code {self.process.returncode}")
            time.sleep(0.1)
        raise self._fail(f"did not answer /v1/models within {self.startup_timeout_s:.0f} s")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/models", timeout=2) as reply:
                return reply.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def start(self) -> "LocalServer":
        self._spawn()
        self._read_address(time.monotonic() + self.startup_timeout_s)
        return self

    async def astart(self) -> "LocalServer":
        # Spawn on the loop thread (see the PDEATHSIG note), wait for readiness off it.
        self._spawn()
        deadline = time.monotonic() + self.startup_timeout_s
        await asyncio.to_thread(self._read_address, deadline)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self.process = self.process, None
        _running.discard(self)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout:
            proc.stdout.close()
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    @property
    def endpoint_id(self) -> str:
        """A name for this server that survives restarts (its port does not): cache keys use it."""
        return f"embedded:{self.model_path.name}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    async def __aenter__(self) -> "LocalServer":
        return await self.astart()

    async def __aexit__(self, *exc) -> None:
        await asyncio.to_thread(self.stop)

    def serve_forever(self, on_ready=None, state_dir: str | Path | None = None) -> None:
        """Run in the foreground until SIGINT/SIGTERM (for `crib model serve`). With
        `state_dir`, a `serve-<pid>.json` there tells `running_servers` where it listens."""
        state = Path(state_dir) / f"serve-{os.getpid()}.json" if state_dir else None
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            self.start()
            if state:
                state.parent.mkdir(parents=True, exist_ok=True)
                state.write_text(json.dumps({"pid": os.getpid(), "base_url": self.base_url,
                                             "model": str(self.model_path), "ctx": self.ctx}))
            if on_ready:
                on_ready(self)
            while self.running:
                time.sleep(0.5)
            raise self._fail(f"exited with code {self.process.returncode if self.process else '?'}")
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.stop()
            if state:
                state.unlink(missing_ok=True)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def running_servers(state_dir: str | Path) -> list[dict]:
    """Servers started by `serve_forever(state_dir=...)` whose process is still alive."""
    found = []
    for path in sorted(Path(state_dir).glob("serve-*.json")):
        try:
            info = json.loads(path.read_text())
            os.kill(int(info["pid"]), 0)
        except (OSError, ValueError, KeyError):
            continue
        found.append(info)
    return found


def embedded(base_url: str) -> "LocalServer | None":
    """The running embedded server of this process at `base_url`, if there is one."""
    base_url = base_url.rstrip("/")
    for server in list(_running):
        if server.base_url == base_url and server.running:
            return server
    return None


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop()


# -- the child ---------------------------------------------------------------------------
def _child(args: dict) -> None:
    _die_with_parent(int(args["parent"]))
    # Optional (crib[local]) and slow to load: only this child needs it, once it will die
    # with its parent.
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args["model"]
    params.model_alias = {args["alias"]}
    # n_ctx is split between the slots: give every slot the full context asked for.
    # (0 would mean the model's 32K: always set it explicitly.)
    params.n_ctx = int(args["ctx"]) * int(args["parallel"])
    params.n_parallel = int(args["parallel"])
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # the server picks a free port; we read it back from listening_address
    params.offline = True
    params.verbosity = 0
    params.cpuparams.n_threads = int(args.get("gen_threads") or args["threads"])  # generation
    params.cpuparams_batch.n_threads = int(args["threads"])  # prompt processing
    params.cpuparams.poll = params.cpuparams_batch.poll = int(args.get("poll", 50))
    if args.get("batch"):
        params.n_batch = params.n_ubatch = int(args["batch"])
    params.warmup = bool(args.get("warmup", True))
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    # Keep the pipe to the parent for the one address line; native logs go to the log file.
    report = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    server = xllamacpp.Server(params)
    report.write(json.dumps({"address": server.listening_address}) + "\n")
    report.close()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    os._exit(0)  # skip the Server destructor: it can hang


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
