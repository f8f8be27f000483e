"""The fork-server: a small root process, started with an empty environment, that launches
every snippet-tier run and every agent-tier sandbox (a slot's zygote, which then forks that
slot's runs), and reports their exit.

Started by the host as `python -I -S crib_forkserver.py CONFIG CTL_FD`. At start it enters
its private mount namespaces (crib_mounts), builds one Landlock ruleset per slot, pre-imports
what snippets use, and serves requests over a SOCK_SEQPACKET control socket: one JSON message
per request, with the run's stdout, stderr, channel and job fds attached. Each run gets a child
forked ahead of time; the child starts a session, applies rlimits, switches to the slot uid,
then either confines itself (Landlock + seccomp) and runs the job in-process (snippet tier) or
executes bubblewrap with the zygote (agent tier; its fds are the log and the zygote's control
socket instead). A snippet slot that has run once gets a warm child of its own, confined
before its next request comes (only the fds, rlimits, environment and the job are per run):
that takes the confinement off the run's critical path. Single-threaded, so fork is safe."""
from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import socket
import sys
import traceback
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crib_confine  # noqa: E402
import crib_serve  # noqa: E402
from crib_mounts import isolate_mounts, setns  # noqa: E402

SETUP_FAILED = crib_serve.SETUP_FAILED  # exit code of a child that could not confine itself


def _reset_signals() -> None:
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)


def _children() -> list[int]:
    try:
        with open(f"/proc/self/task/{os.getpid()}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _uid_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _close_all_but(keep: set[int]) -> None:
    start = 0
    for fd in sorted(keep):
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, 1 << 16)


class ForkServer:
    def __init__(self, cfg: dict[str, Any], ctl: socket.socket) -> None:
        self.cfg = cfg
        self.ctl = ctl
        self.seccomp = bytes.fromhex(cfg["seccomp_hex"])
        self.seccomp_filter = crib_confine.Seccomp(self.seccomp, cfg["machine"])
        self.running: dict[int, dict[str, Any]] = {}  # pid -> spawn request
        self.by_id: dict[int, int] = {}               # request id -> pid
        self.warm: tuple[int, socket.socket] | None = None  # pre-forked child, its socket
        self.ns_b: int | None = None                  # mount namespace with slot scratch tmpfs
        self.scratch_fds: dict[int, int] = {}         # uid -> dir fd of its scratch tmpfs
        self.rulesets: dict[str, int] = {}            # scratch dir -> its slot's Landlock ruleset
        self.uid_of: dict[str, int] = {p: int(u) for u, p in cfg["slots"].items()}  # scratch -> uid
        self.slot_warm: dict[str, tuple[int, socket.socket]] = {}  # scratch -> confined warm child
        self.slot_idle: set[str] = set()              # clean snippet slots owed a warm child
        self.slot_failed: set[str] = set()            # slots whose warm child could not confine

    def send(self, msg: dict[str, Any]) -> None:
        self.ctl.send(json.dumps(msg).encode())

    # ---- child side ---------------------------------------------------------------------
    def _child(self, req: dict[str, Any], fds: list[int]) -> None:
        try:
            _reset_signals()
            os.setsid()
            if req["tier"] != "agent" and self.ns_b is not None:
                setns(self.ns_b)  # the namespace with the slot scratch tmpfs
            ruleset = self.rulesets.get(req["scratch"]) if req["tier"] == "snippet" else None
            # 0 /dev/null, 1 stdout, 2 stderr, 3 channel, 4 job, 5 ruleset (snippet tier).
            crib_serve.lay_out([os.open("/dev/null", os.O_RDWR), *fds,
                                *([ruleset] if ruleset is not None else [])])
            os.chdir(req["scratch"])
            crib_confine.apply_rlimits(req["rlimits"])
            if os.geteuid() == 0 and req.get("uid") is not None:
                crib_confine.drop_to(req["uid"])
            crib_confine.die_with_parent()
            os.environ.clear()
            os.environ.update(req["env"])
            if req["tier"] == "agent":
                fd = os.memfd_create("seccomp", 0)
                os.write(fd, self.seccomp)
                os.lseek(fd, 0, os.SEEK_SET)
                argv = [a.replace("{seccomp_fd}", str(fd)) for a in req["argv"]]
                os.execve(argv[0], argv, {})
            crib_confine.no_new_privs()
            if req["tier"] == "snippet":
                import crib_landlock

                if ruleset is not None:
                    crib_landlock.restrict_self(5)
                    os.close(5)
                else:
                    ll = req["landlock"]
                    crib_landlock.restrict(ll["read_exec"], ll["read"], ll["full"],
                                           {p: int(a) for p, a in ll["files"].items()})
                self.seccomp_filter.install()
        except BaseException:  # noqa: BLE001 - report why the sandbox could not be set up
            os.write(2, ("crib sandbox setup failed:\n" + traceback.format_exc()).encode())
            os._exit(SETUP_FAILED)
        crib_serve.run_job()

    def _slot_child(self, scratch: str, sock: socket.socket) -> None:
        """A snippet slot's warm child: the same confinement as `_child`, before the request.
        Only the uid's own limits are left to set, and those can only be lowered now."""
        try:
            run_name = crib_confine.name()
            _reset_signals()
            os.setsid()
            setns(self.ns_b)
            devnull = os.open("/dev/null", os.O_RDWR)
            ruleset = self.rulesets[scratch]
            _close_all_but({sock.fileno(), devnull, ruleset})
            os.chdir(scratch)
            crib_confine.drop_to(self.uid_of[scratch])
            crib_confine.die_with_parent()
            crib_confine.no_new_privs()
            import crib_landlock

            crib_landlock.restrict_self(ruleset)
            os.close(ruleset)
            self.seccomp_filter.install()
            import crib_guest

            crib_guest.rehearse({"HOME": scratch, "PATH": "/usr/bin:/bin"})
            # And the request's decoding (stdlib json here; the guest uses crib_json).
            json.loads(json.dumps({"op": "spawn", "rlimits": {"cpu": 1}, "env": {"HOME": scratch}}))
            # Named last: a process by this name is confined and waiting (Sandbox.warm_children).
            crib_confine.set_name(self.cfg["warm_name"].encode())
        except BaseException:  # noqa: BLE001 - the server sees the exit code, falls back
            os._exit(SETUP_FAILED)
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 8)
            if not data:
                os._exit(0)
            sock.detach()  # its fd is closed by lay_out: the object must not close a reused one
            crib_confine.set_name(run_name)
            req = json.loads(data)
            crib_serve.lay_out([devnull, *fds])  # 0 /dev/null, 1 stdout, 2 stderr, 3 channel, 4 job
            crib_confine.apply_rlimits(req["rlimits"], clamp=True)
            os.environ.clear()
            os.environ.update(req["env"])
        except BaseException:  # noqa: BLE001 - fd 2 is the run's stderr once laid out
            os.write(2, ("crib sandbox setup failed:\n" + traceback.format_exc()).encode())
            os._exit(SETUP_FAILED)
        crib_serve.run_job()

    # ---- server side --------------------------------------------------------------------
    def build_rulesets(self) -> str | None:
        """One Landlock ruleset per slot, built once: a run then only calls restrict_self."""
        try:
            import crib_landlock

            if crib_landlock.abi_version() < 1:
                return "no Landlock"
            for scratch, ll in self.cfg.get("landlock", {}).items():
                fd = self.scratch_fds.get(self.uid_of.get(scratch, -1))
                self.rulesets[scratch] = crib_landlock.make_ruleset(
                    ll["read_exec"], ll["read"], ll["full"],
                    {p: int(a) for p, a in ll["files"].items()},
                    opened={scratch: fd} if fd is not None else None)
        except OSError as e:
            return str(e)
        return None

    def prefork(self) -> None:
        """Fork the next run's process ahead of time, so a request does not wait for fork()
        (copying the page tables of this numpy-laden process is the slowest step of a run).
        The warm child waits for its request and fds on a private socket."""
        if self.warm is not None or not self.cfg.get("prefork", True):
            return
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            pid = os.fork()
        except OSError:
            parent_end.close()
            child_end.close()
            return
        if pid == 0:
            try:
                crib_confine.prctl(crib_confine.PR_SET_PDEATHSIG, signal.SIGKILL)
                parent_end.close()
                _reset_signals()
                data, fds, _flags, _addr = socket.recv_fds(child_end, 1 << 16, 8)
            except BaseException:  # noqa: BLE001
                os._exit(0)
            if not data:
                os._exit(0)
            child_end.detach()  # _child closes its fd
            crib_serve.never_return(lambda: self._child(json.loads(data), fds))
        child_end.close()
        self.warm = (pid, parent_end)

    def prefork_slots(self) -> None:
        """A confined warm child for each clean, idle snippet slot that has run before."""
        while self.slot_idle:
            scratch = self.slot_idle.pop()
            if (scratch in self.slot_warm or scratch in self.slot_failed
                    or scratch not in self.rulesets):
                continue
            parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                pid = os.fork()
            except OSError:
                parent_end.close()
                child_end.close()
                return
            if pid == 0:
                crib_serve.never_return(lambda: self._slot_child(scratch, child_end))
            child_end.close()
            self.slot_warm[scratch] = (pid, parent_end)

    def _hand_to_warm(self, warm: tuple[int, socket.socket], req: dict[str, Any],
                      fds: list[int]) -> bool:
        """Give the request to a warm child; False if it is gone."""
        pid, sock = warm
        try:
            socket.send_fds(sock, [json.dumps(req).encode()], fds)
        except OSError:
            return False
        finally:
            sock.close()
        for fd in fds:
            os.close(fd)
        self.running[pid] = req
        self.by_id[req["id"]] = pid
        return True

    def spawn(self, req: dict[str, Any], fds: list[int]) -> None:
        slot_warm = self.slot_warm.pop(req["scratch"], None) if req["tier"] == "snippet" else None
        if slot_warm is not None and self._hand_to_warm(slot_warm, req, fds):
            return
        if self.warm is not None:
            warm, self.warm = self.warm, None
            if self._hand_to_warm(warm, req, fds):
                return  # else it is gone: fork below
        try:
            pid = os.fork()
        except OSError as e:
            self.send({"op": "error", "id": req["id"], "message": f"fork failed: {e}"})
            for fd in fds:
                os.close(fd)
            return
        if pid == 0:
            crib_serve.never_return(lambda: self._child(req, fds))
        for fd in fds:
            os.close(fd)
        self.running[pid] = req
        self.by_id[req["id"]] = pid

    def kill(self, req_id: int) -> None:
        pid = self.by_id.get(req_id)
        if pid is not None:  # still unreaped, so the pgid cannot have been reused
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def sweep(self, uid: int | None) -> None:
        """Kill what the run left running. As their subreaper we inherit every orphan of the
        run, so we kill our children of the slot's uid level by level until none is left."""
        if uid is None:
            return
        for _ in range(10_000):
            spared = self.running.keys() | {pid for pid, _ in self.slot_warm.values()}
            victims = [p for p in _children() if p not in spared and _uid_of(p) == uid]
            if not victims:
                return
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for pid in victims:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass

    def clean(self, req: dict[str, Any]) -> None:
        """Empty the slot's scratch tmpfs (through a dir fd: it lives in namespace B)."""
        if req["tier"] == "agent":
            return  # bubblewrap's own tmpfs went away with its namespace
        uid = req.get("uid")  # None when not root: no per-uid scratch fd
        fd = self.scratch_fds.get(uid) if uid is not None else None
        target: Any = fd if fd is not None else req["scratch"]
        for entry in os.scandir(target):
            try:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.name, ignore_errors=True, dir_fd=fd)
                else:
                    os.unlink(entry.name, dir_fd=fd)
            except OSError:
                pass

    def reap(self) -> None:
        while True:
            try:
                pid, status, ru = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            req = self.running.pop(pid, None)
            if req is None:  # a warm child, or an orphan we adopted as subreaper
                if self.warm is not None and self.warm[0] == pid:
                    self.warm[1].close()
                    self.warm = None
                for scratch, (warm_pid, sock) in list(self.slot_warm.items()):
                    if warm_pid == pid:
                        sock.close()
                        del self.slot_warm[scratch]
                        # SETUP_FAILED: the slot forks per run from now on
                        if os.waitstatus_to_exitcode(status) == SETUP_FAILED:
                            self.slot_failed.add(scratch)
                            os.write(2, f"the warm child of {scratch} could not confine "
                                        "itself\n".encode())
                        else:  # killed from outside: the slot gets another one
                            self.slot_idle.add(scratch)
                continue
            del self.by_id[req["id"]]
            try:
                os.killpg(pid, signal.SIGKILL)  # leftovers of the run's process group
            except ProcessLookupError:
                pass
            self.sweep(req.get("uid"))
            self.clean(req)
            if req["tier"] == "snippet" and self.ns_b is not None:
                self.slot_idle.add(req["scratch"])
            self.send({"op": "exit", "id": req["id"], "status": status,
                       "cpu_ms": (ru.ru_utime + ru.ru_stime) * 1000.0, "maxrss_kb": ru.ru_maxrss})

    def shutdown(self) -> None:
        for pid, _ in [*([self.warm] if self.warm else []), *self.slot_warm.values()]:
            os.kill(pid, signal.SIGKILL)
        for pid, req in list(self.running.items()):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.sweep(req.get("uid"))
        os._exit(0)

    def wait_s(self) -> float:
        return 1.0

    def tick(self) -> None:
        self.prefork()
        self.prefork_slots()


def main() -> None:
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    ctl = socket.socket(fileno=int(sys.argv[2]))
    ctl.setblocking(True)
    sys.path.extend(cfg["site_dirs"])
    crib_confine.prctl(crib_confine.PR_SET_CHILD_SUBREAPER, 1)
    info: dict[str, Any] = {"op": "ready", "pid": os.getpid(), "mount_error": None}
    server = ForkServer(cfg, ctl)
    if os.geteuid() == 0:
        try:
            server.ns_b, server.scratch_fds = isolate_mounts(
                cfg["read_paths"], {int(u): p for u, p in cfg["slots"].items()},
                cfg["scratch_mb"], cfg["scratch_inodes"])
        except OSError as e:
            info["mount_error"] = str(e)
    info["preloaded"] = crib_serve.preload(cfg["preload"])
    info["landlock_error"] = server.build_rulesets()
    # Keep the garbage collector of every child off these objects: a collection would write
    # to each one and so copy every page shared with this process.
    gc.collect()
    gc.freeze()
    server.send(info)
    crib_serve.serve(server)


if __name__ == "__main__":
    main()
