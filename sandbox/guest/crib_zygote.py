"""The agent tier's zygote: a warm interpreter that lives inside one slot's bubblewrap sandbox
and forks one child per run.

Started by bubblewrap (`--as-pid-1`) as `python -I -S crib_zygote.py SCRATCH PRELOAD SITE...`
with the control socket on fd 3 and its log on fds 1 and 2. It makes itself non-dumpable (a
same-uid run cannot open /proc/1/mem), imports what agents use, and then serves the host over
the control socket: `spawn` (the run's stdout, stderr, channel and job fds attached), `kill`,
`shutdown`. Per run the child starts a session, lays out fd 0 /dev/null, 1 stdout, 2 stderr,
3 channel, 4 job, lowers its rlimits to the run's and runs the job exactly as a fresh guest
would (crib_guest.run_job). When the child is gone the zygote, PID 1 of the sandbox's pid
namespace, kills every process left in it, empties the writable tmpfs mounts (scratch, /tmp,
/dev/shm; everything else is read-only), checks that no run changed its own limits, priority
or affinity (which later children would inherit), and only then reports the exit. If it
cannot restore that state it says so (`retire`) and exits; the host then starts a fresh
sandbox.

Signals a run sends to PID 1 are dropped by the kernel (the zygote handles only SIGCHLD, which
just wakes it up); ptrace and process_vm_* are denied by seccomp. Single-threaded."""
from __future__ import annotations

import _socket
import gc
import json
import os
import signal
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (postponed): the runs need no typing module
    from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crib_confine  # noqa: E402
import crib_serve  # noqa: E402

CTL_FD = 3
SETUP_FAILED = crib_serve.SETUP_FAILED
PR_SET_DUMPABLE = 4
KILL_MARGIN_S = 2.0  # the host kills at the wall-clock limit; this is the backstop
MAX_DEPTH = 256      # deeper trees than this in a tmpfs: retire instead of recursing on


IOPRIO_GET = {"x86_64": 252, "aarch64": 31}


def own_attrs() -> tuple:
    """What a process of the same uid may change about the zygote from inside the sandbox
    (prlimit, renice, affinity, scheduler, I/O priority) and every later run would inherit."""
    import resource

    limits = tuple(resource.getrlimit(getattr(resource, n)) for n in sorted(dir(resource))
                   if n.startswith("RLIMIT_"))
    nr = IOPRIO_GET.get(os.uname().machine)
    ioprio = crib_confine._libc.syscall(nr, 1, 0) if nr else None  # IOPRIO_WHO_PROCESS, self
    return (limits, os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0),
            os.sched_getparam(0).sched_priority, frozenset(os.sched_getaffinity(0)), ioprio)


def log(text: str) -> None:
    try:
        os.write(2, f"crib zygote: {text}\n".encode())
    except OSError:
        pass


class Root:
    """A writable tmpfs mount the zygote restores after each run: empty, with its own mode,
    times and no extended attributes. Directories bubblewrap made in it for other mounts (a
    read-only path that lives under /tmp, say) are its skeleton: kept, with their modes;
    mount points are never entered. A run that moved or changed the skeleton makes the
    restore fail, and the zygote retire."""

    def __init__(self, path: str) -> None:
        self.path = path
        st = os.stat(path)
        self.dev = st.st_dev
        self.mode, self.times = st.st_mode & 0o7777, (st.st_atime_ns, st.st_mtime_ns)
        self.skeleton = self._scan()

    def _scan(self) -> tuple[dict[str, int], set[str]]:
        """(what this tmpfs holds -> mode, or -1 if not a directory; the mount points in it),
        by path relative to the root."""
        entries: dict[str, int] = {}
        mounts: set[str] = set()
        stack = [("", self.path)]
        while stack:
            rel, path = stack.pop()
            with os.scandir(path) as it:
                for e in it:
                    st = e.stat(follow_symlinks=False)
                    name = f"{rel}/{e.name}"
                    if st.st_dev != self.dev:
                        mounts.add(name)
                    elif e.is_dir(follow_symlinks=False):
                        entries[name] = st.st_mode & 0o7777
                        stack.append((name, e.path))
                    else:
                        entries[name] = -1
        return entries, mounts

    def restore(self) -> str | None:
        """Returns why the mount could not be restored, or None."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as e:
            return f"{self.path}: {e}"
        try:
            os.fchmod(fd, 0o700)
            self._purge(fd, "", 0)
            if self._scan() != self.skeleton:
                return f"{self.path} is not back to its initial state after cleaning"
            for name in os.listxattr(fd):
                os.removexattr(fd, name)
            os.fchmod(fd, self.mode)
            os.utime(fd, ns=self.times)
        except (OSError, RecursionError) as e:
            return f"{self.path}: {e}"
        finally:
            os.close(fd)
        return None

    def _purge(self, dir_fd: int, rel: str, depth: int) -> None:
        """Delete everything under `dir_fd` but the skeleton, never following a symlink."""
        if depth > MAX_DEPTH:
            raise OSError(f"directory tree deeper than {MAX_DEPTH}")
        keep, mounts = self.skeleton
        with os.scandir(dir_fd) as it:
            entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
        for name, is_dir in entries:
            path = f"{rel}/{name}"
            if path in mounts:
                continue
            if not is_dir:
                os.unlink(name, dir_fd=dir_fd)
                continue
            # Nothing of the run is alive, so the entry is still the directory scandir saw.
            os.chmod(name, 0o700, dir_fd=dir_fd)  # a run may have made it unreadable
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            try:
                if os.fstat(sub).st_dev != self.dev:
                    raise OSError(f"a mount point was moved to {path}")
                self._purge(sub, path, depth + 1)
            finally:
                os.close(sub)
            if keep.get(path, -1) >= 0:
                os.chmod(name, keep[path], dir_fd=dir_fd)
            else:
                os.rmdir(name, dir_fd=dir_fd)


class Zygote:
    def __init__(self, ctl: _socket.socket, roots: list[Root]) -> None:
        self.ctl = ctl
        self.roots = roots
        self.active: tuple[int, int, float] | None = None  # pid, request id, kill deadline
        self.attrs = own_attrs()

    def send(self, msg: dict[str, Any]) -> None:
        self.ctl.send(json.dumps(msg).encode())

    # ---- child side ---------------------------------------------------------------------
    def _child(self, req: dict[str, Any], fds: list[int]) -> None:
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.setsid()
            crib_serve.lay_out([os.open("/dev/null", os.O_RDWR), *fds])
            crib_confine.apply_rlimits(req["rlimits"], clamp=True)
            crib_confine.prctl(PR_SET_DUMPABLE, 1)  # like a fresh process; the zygote stays 0
        except BaseException:  # noqa: BLE001 - report why the run could not be set up
            import traceback  # not preloaded: every zygote would pay for it at start

            os.write(2, ("crib sandbox setup failed:\n" + traceback.format_exc()).encode())
            os._exit(SETUP_FAILED)
        crib_serve.run_job()

    # ---- server side --------------------------------------------------------------------
    def spawn(self, req: dict[str, Any], fds: list[int]) -> None:
        try:
            if self.active is not None or len(fds) != 4:
                why = "a run is already going" if self.active else f"{len(fds)} fds instead of 4"
                self.send({"op": "error", "id": req["id"], "message": why})
                return
            try:
                pid = os.fork()
            except OSError as e:
                self.send({"op": "error", "id": req["id"], "message": f"fork failed: {e}"})
                return
            if pid == 0:
                crib_serve.never_return(lambda: self._child(req, fds))
            deadline = time.monotonic() + float(req.get("timeout_s") or 3600) + KILL_MARGIN_S
            self.active = (pid, req["id"], deadline)
        finally:
            for fd in fds:
                os.close(fd)

    def kill(self, req_id: int | None = None) -> None:
        if self.active is not None and req_id in (None, self.active[1]):
            try:  # still unreaped, so the pgid cannot have been reused
                os.killpg(self.active[0], signal.SIGKILL)
            except ProcessLookupError:
                pass

    @staticmethod
    def kill_all() -> None:
        """As PID 1: kill every other process in the sandbox and reap it (orphans, processes
        that left the run's session, ...) until there is nothing left."""
        for _ in range(100_000):
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return

    def reap(self) -> None:
        while True:
            try:
                pid, status, ru = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.active is None or pid != self.active[0]:
                continue  # an orphan of the run, re-parented to us
            req_id = self.active[1]
            self.kill(req_id)  # leftovers of its process group
            self.active = None
            self.kill_all()
            problems = [p for p in (root.restore() for root in self.roots) if p]
            if own_attrs() != self.attrs:
                problems.append("a run changed the zygote's limits, priority or affinity")
            self.send({"op": "exit", "id": req_id, "status": status,
                       "cpu_ms": (ru.ru_utime + ru.ru_stime) * 1000.0,
                       "maxrss_kb": ru.ru_maxrss, "retire": bool(problems)})
            if problems:
                log("retiring: " + "; ".join(problems))
                os._exit(0)

    def shutdown(self) -> None:
        self.kill()
        self.kill_all()
        os._exit(0)

    def wait_s(self) -> float | None:
        return None if self.active is None else max(0.0, self.active[2] - time.monotonic())

    def tick(self) -> None:
        """The run's own wall-clock backstop (the host kills it first, normally)."""
        if self.active is not None and time.monotonic() > self.active[2]:
            self.kill()
            pid, req_id, _ = self.active
            self.active = (pid, req_id, time.monotonic() + 1.0)  # no busy loop till reaped


def main() -> None:
    crib_confine.prctl(PR_SET_DUMPABLE, 0)  # first: nothing of ours is readable from /proc/1
    os.closerange(CTL_FD + 1, 1 << 16)  # bubblewrap's seccomp fd and anything else inherited
    scratch, modules, *sites = sys.argv[1:]
    sys.path.extend(sites)
    ctl = _socket.socket(fileno=CTL_FD)
    ctl.setblocking(True)
    roots = [Root(p) for p in (scratch, "/tmp", "/dev/shm")]
    loaded = crib_serve.preload(["crib_guest", "crib_runtime", "crib_channel", *modules.split(",")])
    compile("def f(a):\n    return [a]\n", "<zygote>", "exec")  # the compiler's one-time set-up
    # Keep the garbage collector of every child off these objects: a collection would write
    # to each one and so copy every page shared with this process.
    gc.collect()
    gc.freeze()
    zygote = Zygote(ctl, roots)
    zygote.send({"op": "ready", "pid": os.getpid(), "preloaded": loaded})
    crib_serve.serve(zygote)


if __name__ == "__main__":
    main()
