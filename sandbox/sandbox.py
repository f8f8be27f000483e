"""`Sandbox`: run untrusted code (snippets and agents) in isolation, with limits and one narrow
channel back to the host. See docs/agent-api.md for what the guest sees."""
from __future__ import annotations

import asyncio
import itertools
import os
import platform
import shutil
import signal
import socket
import sys
import threading
import time
import warnings
import weakref
from pathlib import Path
from typing import Any

from crib.sandbox.agent_slots import AgentSlotChooser
from crib.sandbox.channel import ChannelServer, Handler
from crib.sandbox.check import CheckReport, check
from crib.sandbox.control import ControlClient, ControlDied
from crib.sandbox.forkserver import WARM_NAME, ForkServerClient
from crib.sandbox.layout import PRELOAD, Layout, guest_env, job_memfd, precompile_guest
from crib.sandbox.limits import Limits, RunResult, Tier
from crib.sandbox.reaper import become_subreaper, reap_group, reap_orphans
from crib.sandbox.run_dirs import claim_run_dir, sweep_stale_run_dirs
from crib.sandbox.seccomp import build_filter
from crib.sandbox.slots import BLOCK, RECHECK_S, SlotPool, claim_uid_block
from crib.sandbox.zygote import ZygoteClient

SETUP_FAILED = 125  # a child that could not set itself up (guest/crib_serve.py)
NESTED_OUTPUT_CAP = 256 * 1024
NESTED_CODE_KEPT = 20_000  # of each run_python snippet, in RunResult.snippets (skill capture)
NESTED_STDOUT_KEPT = 4_000
KILL_GRACE_S = 60.0
DEFAULT_SLOTS = 32
MAX_SLOTS = 128  # runs at once: 3 uids a slot (sandbox/slots.py), 6 blocks of uids at most
PREWARM_FOR_S = 10.0  # a command's start-up, which prewarm() overlaps, is over by then
UNSAFE_WARNING = ("crib: running untrusted code WITHOUT a sandbox (--unsafe-no-sandbox): it can "
                  "read your files and secrets and use the network")


def _retrieve(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


def _cleanup(fs_holder: list[ForkServerClient], zygotes: dict[int, ZygoteClient],
             run_root: Path) -> None:
    for z in list(zygotes.values()):
        z.close()
    zygotes.clear()
    fs_holder[0].close()
    reap_orphans(range(0), pgid=fs_holder[0].proc.pid)
    shutil.rmtree(run_root, ignore_errors=True)


class SandboxUnavailable(RuntimeError):
    """No isolation tier works here (the message says why) and unsafe mode was not asked for."""


class Sandbox:
    """Start it before secrets are loaded where possible: the fork-server it starts never sees
    the host's environment. Use as `async with Sandbox() as sb:` or call `close()`."""

    def __init__(self, unsafe_no_sandbox: bool = False, *, slots: int = DEFAULT_SLOTS,
                 scratch_mb: int = 64, scratch_inodes: int = 20_000,
                 report: CheckReport | None = None) -> None:
        if not 1 <= slots <= MAX_SLOTS:
            raise ValueError(f"slots must be in 1..{MAX_SLOTS}")
        self.slots = slots
        self.unsafe = unsafe_no_sandbox
        self.report = report or check()
        if not self.report.any_ok and not unsafe_no_sandbox:
            raise SandboxUnavailable(
                "no sandbox tier works on this machine: agent tier: "
                f"{self.report.agent.reason}; snippet tier: {self.report.snippet.reason}. "
                "Pass --unsafe-no-sandbox (unsafe_no_sandbox=True) only for code you trust.")
        self.layout = Layout.detect()
        precompile_guest()
        self.scratch_mb = scratch_mb
        self.subreaper = become_subreaper()
        self._lock_fds: list[int] = []
        root = os.geteuid() == 0
        if root:  # top-level slots, nested slots, zygotes: see sandbox/slots.py
            base, self._lock_fds = claim_uid_block(-(-3 * slots // BLOCK))
            self.uids: range = range(base, base + 3 * slots)
        else:
            self.uids = range(0)
        sweep_stale_run_dirs()
        self.run_root, owner_lock = claim_run_dir()
        self._lock_fds.append(owner_lock)  # closed once the directory is gone
        slot_root = self.run_root / "slots"
        slot_root.mkdir(mode=0o711)
        self._slot_dirs = []
        for i in range(2 * slots):
            d = slot_root / str(i)
            d.mkdir(mode=0o700)
            if root:
                os.chown(d, self.uids[i], self.uids[i])
            self._slot_dirs.append(str(d))
        self._agent_argv: list[str] | None = None  # the zygotes' bubblewrap command line
        self._zygotes: dict[int, ZygoteClient] = {}   # agent tier: one per slot, started lazily
        # What a spawn request needs per slot, computed once.
        self._spawn_base = [{"uid": self.uids[i] if root else None, "scratch": d,
                             "env": guest_env(d)} for i, d in enumerate(self._slot_dirs)]
        config = {"seccomp_hex": build_filter().hex(), "machine": platform.machine(),
                  "site_dirs": self.layout.site_dirs, "read_paths": self.layout.read_paths(),
                  "slots": ({str(self.uids[i]): d for i, d in enumerate(self._slot_dirs)}
                            if root else {}),
                  "scratch_mb": scratch_mb, "scratch_inodes": scratch_inodes, "preload": PRELOAD,
                  "warm_name": WARM_NAME,
                  # One Landlock ruleset per slot, built once by the fork-server.
                  "landlock": {d: self.layout.landlock_spec(d) for d in self._slot_dirs}}
        self._fs_config = config
        self._fs = ForkServerClient(self.layout.interpreter, config, self.run_root)
        self._fs_holder = [self._fs]  # the finalizer must close a restarted fork-server too
        self._finalizer = weakref.finalize(self, _cleanup, self._fs_holder, self._zygotes,
                                           self.run_root)
        self._pool = SlotPool(slots)
        # warm zygotes first; see agent_slots.py
        self._agent_slots = AgentSlotChooser(self._zygotes)
        self._seq = itertools.count()
        self._closed = False
        self._zygote_lock = threading.Lock()  # zygotes start on the loop and in prewarm()
        self._agent_runs_began = False

    # ---- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the agent tier's zygotes and the fork-server, and remove the run directory."""
        with self._zygote_lock:  # no zygote starts after this
            if self._closed:
                return
            self._closed = True
        self._finalizer.detach()
        _cleanup(self._fs_holder, self._zygotes, self.run_root)
        reap_orphans(self.uids)
        for fd in self._lock_fds:
            os.close(fd)

    async def __aenter__(self) -> "Sandbox":
        await self._fs.wait_ready()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _pick_tier(self, tier: Tier) -> tuple[Tier, list[str]]:
        ok = {"agent": self.report.agent.ok, "snippet": self.report.snippet.ok}
        if tier in ok and ok[tier]:
            return tier, []
        other: Tier = "snippet" if tier == "agent" else "agent"
        if tier in ok and ok[other]:
            reason = getattr(self.report, tier).reason
            return other, [f"the {tier} tier is unavailable ({reason}); ran in the {other} tier"]
        if self.unsafe:
            print(f"WARNING: {UNSAFE_WARNING}", file=sys.stderr)
            warnings.warn(UNSAFE_WARNING, RuntimeWarning, stacklevel=3)
            return "none", [UNSAFE_WARNING]
        reason = getattr(self.report, tier).reason
        raise SandboxUnavailable(f"the {tier} tier is unavailable: {reason}")

    def zygotes(self) -> list[dict[str, Any]]:
        """The agent tier's live zygotes: slot, host pids (bubblewrap, zygote) and memory."""
        return [{"slot": slot, "pids": z.pids(), **z.memory_kb()}
                for slot, z in sorted(self._zygotes.items()) if z.usable]

    def warm_children(self) -> list[dict[str, int]]:
        """The snippet tier's warm children: pid and memory."""
        return self._fs.warm_children()

    def stop_zygotes(self) -> int:
        """Stop the agent tier's idle zygotes (to free their memory, or to time a slot's first
        run); each slot starts a fresh one on its next agent run. Returns how many stopped."""
        idle = [slot for slot, z in self._zygotes.items() if z.usable and not z.busy]
        for slot in idle:
            self._zygotes.pop(slot).close()
        return len(idle)

    def prewarm(self, runs: int) -> None:
        """Start agent-tier zygotes for `runs` concurrent runs ahead of them, on a thread, while
        the caller goes on with its own start-up (one core is busy with it; a zygote takes
        ≈75 ms of CPU to start). The batch's first runs then find them warm. Paced by the
        rules a run's slot choice follows (agent_slots.py); it stops at the first agent run,
        which takes over from there, and at close()."""
        if not self.report.agent.ok or runs < 1:
            return
        threading.Thread(target=self._prewarm, args=(min(runs, self.slots),),
                         name="crib-zygote-prewarm", daemon=True).start()

    def _prewarm(self, runs: int) -> None:
        give_up = time.monotonic() + PREWARM_FOR_S  # a zygote start that hangs
        for _ in range(runs):  # a bound: zygotes that die at once are not restarted forever
            while not self._agent_slots.may_start():
                if self._closed or self._agent_runs_began or time.monotonic() > give_up:
                    return
                time.sleep(RECHECK_S)
            cold = self._agent_slots.cold(self._pool.free_slots())
            if (len(self._agent_slots.live()) >= runs or not cold or self._closed
                    or self._agent_runs_began):
                return
            try:
                self._zygote(cold[-1])
            except Exception:  # noqa: BLE001 - only a head start: a run starting it reports why
                return

    def _zygote(self, slot: int) -> ZygoteClient:
        """The slot's zygote, started now if it has none or its last one is gone."""
        with self._zygote_lock:
            if self._closed:
                raise RuntimeError("this Sandbox is closed")
            z = self._zygotes.get(slot)
            if z is not None and z.usable:
                return z
            if z is not None:
                z.close()
            if self._agent_argv is None:
                self._agent_argv = self.layout.bwrap_argv(self.scratch_mb << 20)
            # Its own uid (the third set): no snippet run can renice, prlimit or signal it.
            uid = self.uids[2 * self.slots + slot] if self.uids else None
            z = ZygoteClient(self._fs, slot, {"uid": uid, "scratch": "/", "env": {},
                                              "argv": self._agent_argv},
                             self.run_root / f"zygote-{slot}.log")
            self._zygotes[slot] = z
            return z

    # ---- public API -------------------------------------------------------------------------
    async def run(self, code: str, tier: Tier = "snippet", entry: str | None = None,
                  inputs: Any = None, limits: Limits | None = None, rpc: Handler | None = None,
                  files: dict[str, str | bytes] | None = None, cheatsheet: str = "",
                  skills: dict[str, str] | None = None) -> RunResult:
        """Run `code` as a script; with `entry`, then call that function with `inputs` (a dict
        as keywords, a list as positional arguments) and return its value as JSON.
        `skills` ({function name: code}) are importable in the run as `from skills import NAME`."""
        return await self._run(code, tier, limits or Limits(), rpc, files,
                               {"mode": "snippet", "entry": entry, "inputs": inputs,
                                "cheatsheet": cheatsheet, "skills": skills or None})

    async def run_agent(self, agent_code: str, task: str, answer_format: str = "",
                        cheatsheet: str = "", rpc: Handler | None = None,
                        limits: Limits | None = None, tier: Tier = "agent",
                        files: dict[str, str | bytes] | None = None,
                        skills: dict[str, str] | None = None) -> RunResult:
        """Run an agent (code defining `forward(task)`: an ADAS agent adapted) on one task;
        `value` is its answer. `skills` are importable in the agent and in its run_python
        snippets; `snippets` of the result lists the snippets it ran."""
        return await self._run(agent_code, tier, limits or Limits(), rpc, files,
                               {"mode": "agent", "task": task, "answer_format": answer_format,
                                "cheatsheet": cheatsheet, "skills": skills or None})

    # ---- one run ----------------------------------------------------------------------------
    async def _run(self, code: str, tier: Tier, limits: Limits, rpc: Handler | None,
                   files: dict | None, request: dict[str, Any], nested: bool = False) -> RunResult:
        if self._closed:
            raise RuntimeError("this Sandbox is closed")
        used, notes = self._pick_tier(tier)
        if self._fs.dead:  # it died (killed, OOM): start a new one rather than fail forever
            self._fs.close()
            reap_group(self.uids, self._fs.proc.pid)  # its pre-forked child
            self._fs = ForkServerClient(self.layout.interpreter, self._fs_config, self.run_root)
            self._fs_holder[0] = self._fs
            for z in self._zygotes.values():  # they died with it (PDEATHSIG)
                z.close()
            notes.append("the fork-server had died and was restarted")
        await self._fs.wait_ready()
        if used == "agent":
            self._agent_runs_began = True  # prewarm() stops: the runs' own slot choice goes on
        slot = await self._pool.acquire(nested, self._agent_slots if used == "agent" else None)
        n = next(self._seq)
        scratch = self._slot_dirs[slot]
        fds: list[int] = []
        exit_fut: asyncio.Future | None = None
        settled = False  # the run's end is known, or it was killed and left to end alone
        host_sock: socket.socket | None = None
        tasks: list[asyncio.Task] = []
        t0 = time.perf_counter()
        deadline = time.monotonic() + limits.timeout_s
        try:
            # stdout, stderr (memfds: capped by RLIMIT_FSIZE, never on disk), then the job.
            fds += [os.memfd_create("crib-stdout", os.MFD_CLOEXEC),
                    os.memfd_create("crib-stderr", os.MFD_CLOEXEC)]
            fds.append(job_memfd(code, request, files))
            host_sock, guest_sock = socket.socketpair()
            client: ControlClient = self._fs
            if used == "agent":  # the slot's warm zygote forks the run inside its sandbox
                client = self._zygote(slot)
                spawn = {"op": "spawn", "rlimits": limits.rlimits(), "timeout_s": limits.timeout_s}
            else:
                spawn = {"op": "spawn", "tier": used, "rlimits": limits.rlimits(),
                         **self._spawn_base[slot]}
                if used == "snippet" and self._fs.info.get("landlock_error"):
                    spawn["landlock"] = self.layout.landlock_spec(scratch)  # no prepared ruleset

            snippets: list[dict[str, Any]] = []  # what the run's run_python calls ran

            async def run_nested(params: dict) -> dict:
                out = await self._nested(params, limits, deadline, request.get("skills"))
                snippets.append({"code": str(params.get("code", ""))[:NESTED_CODE_KEPT],
                                 "ok": out["ok"], "stdout": out["stdout"][:NESTED_STDOUT_KEPT],
                                 "stderr": out["stderr"][:NESTED_STDOUT_KEPT],
                                 "exit_code": out["exit_code"], "error": out["error"],
                                 "limit_hit": out["limit_hit"], "wall_ms": out["wall_ms"]})
                return out

            chan = ChannelServer(limits, rpc, request.get("cheatsheet") or "", run_nested)
            def on_exit(slot: int = slot, agent: bool = used == "agent") -> None:
                self._pool.release(slot, nested)  # reader thread: the slot is clean again
                if not agent:  # an agent run's processes are reaped inside its sandbox
                    reap_orphans(self.uids)

            run_fds = [fds[0], fds[1], guest_sock.fileno(), fds[2]]
            try:
                try:
                    req_id, exit_fut = client.spawn(spawn, run_fds, on_exit)
                except ControlDied:
                    if used != "agent":
                        raise
                    # The zygote died while idle (and was not yet seen dead): a fresh one.
                    client.close()
                    client = self._zygote(slot)
                    req_id, exit_fut = client.spawn(spawn, run_fds, on_exit)
            finally:
                guest_sock.close()
            if exit_fut is None:  # spawn() makes one whenever it is called on an event loop
                raise RuntimeError(f"{client.what} gave run {n} no exit future")
            exit_fut.add_done_callback(_retrieve)  # nobody awaits it after an early end
            serve = asyncio.create_task(chan.serve(host_sock))  # owns host_sock from here
            host_sock = None
            tasks.append(serve)
            timed_out, early = await self._wait_run(exit_fut, serve, chan, deadline)
            if early:  # the guest reported and closed the channel; its teardown goes on alone
                client.kill(req_id)  # unless already reported gone; stops one that lied
                client.abandon(req_id)  # nobody waits for the report: on_exit frees the slot
                settled = True
                exit_msg: dict[str, Any] = {"op": "early"}
            else:
                if not exit_fut.done():
                    client.kill(req_id)
                # asyncio.timeout, not wait_for: on 3.11 wait_for returns the result when a
                # cancellation (Ctrl-C) arrives after the future is done, and the cancel is lost.
                try:
                    async with asyncio.timeout(KILL_GRACE_S):
                        exit_msg = await asyncio.shield(exit_fut)
                except TimeoutError:
                    raise RuntimeError(f"{client.what} did not report the end of run {n} "
                                       f"within {KILL_GRACE_S} s of the kill") from None
                except ControlDied as e:  # its processes are gone with it
                    exit_msg = {"op": "died", "message": str(e)}
                settled = True
                try:
                    async with asyncio.timeout(2.0):
                        await asyncio.shield(serve)  # the channel to EOF
                except TimeoutError:
                    pass
            wall_ms = (time.perf_counter() - t0) * 1000
            result = self._result(used, limits, exit_msg, chan, timed_out, wall_ms, fds, notes)
            result.snippets = snippets
            return result
        finally:
            for task in tasks:
                task.cancel()
            if host_sock is not None:
                host_sock.close()
            for fd in fds:
                os.close(fd)
            if exit_fut is None:  # never started: the slot is ours to give back
                self._pool.release(slot, nested)
            elif not settled and not exit_fut.done():  # cancelled or failed: kill it now
                client.kill(req_id)  # (on_exit frees the slot)

    @staticmethod
    async def _wait_run(exit_fut: asyncio.Future, serve: asyncio.Task, chan: ChannelServer,
                        deadline: float) -> tuple[bool, bool]:
        """Wait for the end of a run: (timed out, ended early). A run ends early when the guest
        sent its result and closed the channel before the exit report came. A protocol
        violation ends `serve` (the channel sets `violation` as it stops)."""
        pending = {exit_fut, serve}
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True, False
            done, _ = await asyncio.wait(pending, timeout=remaining,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done:
                return True, False
            if exit_fut in done or chan.violation:
                return False, False
            pending.discard(serve)
            if chan.result is not None and "exit_code" in chan.result:
                return False, True

    async def _nested(self, params: dict, parent: Limits, deadline: float,
                      skills: dict[str, str] | None = None) -> dict:
        remaining = deadline - time.monotonic()
        timeout = min(float(params.get("timeout") or parent.timeout_s), max(remaining - 0.2, 0.1))
        limits = parent.model_copy(update={
            "timeout_s": timeout, "cpu_s": None, "max_llm_calls": 0, "max_nested_runs": 0,
            "output_bytes": min(parent.output_bytes, NESTED_OUTPUT_CAP)})
        r = await self._run(params["code"], "snippet", limits, None, None,
                            {"mode": "snippet", "entry": params.get("entry"),
                             "inputs": params.get("inputs"), "skills": skills}, nested=True)
        return r.model_dump(include={"ok", "exit_code", "stdout", "stderr", "value", "error",
                                     "limit_hit", "wall_ms", "tier"})

    @staticmethod
    def _read_capped(fd: int, cap: int) -> tuple[str, bool]:
        data = os.pread(fd, cap + 1, 0)
        return data[:cap].decode("utf-8", errors="replace"), len(data) > cap

    def _result(self, tier: Tier, limits: Limits, exit_msg: dict, chan: ChannelServer,
                timed_out: bool, wall_ms: float, fds: list[int], notes: list[str]) -> RunResult:
        stdout, out_trunc = self._read_capped(fds[0], limits.output_bytes)
        stderr, err_trunc = self._read_capped(fds[1], limits.output_bytes)
        res = chan.result or {}
        error, error_type = res.get("error"), res.get("error_type")
        exit_code = sig = None
        cpu_ms = exit_msg.get("cpu_ms")
        if exit_msg.get("op") == "error":
            error = f"the sandbox could not start the run: {exit_msg.get('message')}"
        elif exit_msg.get("op") == "died":
            error = f"the sandbox died during the run: {exit_msg.get('message')}"
        elif exit_msg.get("op") == "early":  # reported by the guest itself
            code = res.get("exit_code")
            exit_code = code if isinstance(code, int) and not isinstance(code, bool) else 1
            cpu_ms = res.get("cpu_ms") if isinstance(res.get("cpu_ms"), (int, float)) else None
            rss = res.get("maxrss_kb")
            exit_msg = {"maxrss_kb": rss if isinstance(rss, int) else None}
        else:
            exit_code = os.waitstatus_to_exitcode(exit_msg["status"])
            if exit_code < 0:
                sig = -exit_code
        limit_hit = chan.limit_hit
        if chan.violation:
            error = f"channel protocol violation, run ended: {chan.violation}"
        elif timed_out:
            limit_hit = "timeout"
            error = f"wall-clock limit of {limits.timeout_s} s reached; killed"
        elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_ms is not None
                                       and cpu_ms >= 900 * limits.rlimits()["cpu"]):
            limit_hit, error = "cpu", f"CPU-time limit of {limits.rlimits()['cpu']} s reached"
        elif error_type == "MemoryError":
            limit_hit = "memory"
        elif error and "File too large" in error:
            limit_hit = "file_size"
        if exit_code == SETUP_FAILED and chan.result is None:
            error = "sandbox setup failed: " + stderr[-2000:]
        elif error is None and sig is not None:
            error = f"killed by signal {signal.Signals(sig).name}"
        elif error is None and exit_code:
            error = f"exited with code {exit_code}"
        if limit_hit is None and (out_trunc or err_trunc):
            limit_hit = "output"
        return RunResult(
            ok=exit_code == 0 and error is None and limit_hit is None, exit_code=exit_code,
            stdout=stdout, stderr=stderr, stdout_truncated=out_trunc, stderr_truncated=err_trunc,
            value=res.get("value"), error=error, limit_hit=limit_hit, wall_ms=round(wall_ms, 3),
            cpu_ms=cpu_ms, peak_rss_kb=exit_msg.get("maxrss_kb"), tier=tier,
            rpc_calls=chan.calls, tokens_in=chan.tokens_in, tokens_out=chan.tokens_out,
            nested_runs=chan.nested_runs, warnings=notes)
