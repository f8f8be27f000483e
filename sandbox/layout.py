"""What the guest sees: the paths it may read, the bubblewrap command line (agent tier), the
Landlock rules (snippet tier), and the job payload that carries one run's code and inputs
(a memfd: nothing of a run is written to disk by the host).

Paths are mirrored (the interpreter prefix, the venv's site-packages and the guest runtime
appear inside at their host paths) so the interpreter's RUNPATH and sys.path stay valid."""
from __future__ import annotations

import compileall
import marshal
import os
import shutil
import site
import sys
from dataclasses import dataclass, field
from typing import Any

from crib.sandbox.guest import GUEST_DIR

LL_READ_FILE, LL_WRITE_FILE = 1 << 2, 1 << 1
DEVICE_FILES = {"/dev/null": LL_READ_FILE | LL_WRITE_FILE, "/dev/zero": LL_READ_FILE,
                "/dev/urandom": LL_READ_FILE, "/dev/random": LL_READ_FILE,
                "/etc/localtime": LL_READ_FILE, "/etc/ld.so.cache": LL_READ_FILE}
PRELOAD = ["json", "math", "re", "random", "itertools", "functools", "collections", "fractions",
           "decimal", "statistics", "heapq", "bisect", "string", "datetime", "typing",
           "dataclasses", "copy", "operator", "textwrap", "ast", "traceback", "io", "contextlib",
           "inspect", "shutil", "socket", "unicodedata", "resource", "crib_runtime", "crib_guest",
           "crib_landlock", "numpy"]
# What the agent tier's zygotes import (besides crib_guest and crib_runtime, with json, re,
# random) before their first run: what the bootstrap and `agent_globals` use on every run,
# and heapq, which `Counter.most_common(n)` (majority votes) imports on first use: ≈2 ms of
# every such run's CPU otherwise. Kept short because every zygote pays for it once at start,
# and each zygote is its own interpreter, so nothing of it is shared between slots. Agents'
# own code seldom imports more; what it does import costs that run only. Not `traceback`:
# only a failing run uses it (its import, ≈8 ms, is that run's).
AGENT_PRELOAD = ["resource", "math", "itertools", "collections", "functools", "heapq"]
# The agent tier's working dir inside bubblewrap: a tmpfs of its own, not nested in /tmp, so
# the zygote can empty each writable mount without touching another one's mount point.
AGENT_SCRATCH = "/scratch"


def guest_env(scratch: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch, "LANG": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class Layout:
    interpreter: str
    prefix: str
    site_dirs: list[str]
    guest_dir: str = str(GUEST_DIR)
    bwrap: str | None = field(default_factory=lambda: shutil.which("bwrap"))

    @classmethod
    def detect(cls) -> "Layout":
        prefix = os.path.realpath(sys.base_prefix)
        sites = []
        for p in site.getsitepackages():
            rp = os.path.realpath(p)
            if os.path.isdir(rp) and not rp.startswith(prefix + "/") and rp not in sites:
                sites.append(rp)
        return cls(interpreter=os.path.realpath(sys.executable), prefix=prefix, site_dirs=sites)

    def read_paths(self) -> list[str]:
        return [self.prefix, *self.site_dirs, self.guest_dir]

    def bwrap_argv(self, scratch_bytes: int) -> list[str]:
        """One slot's agent-tier sandbox, running a zygote (guest/crib_zygote.py) as PID 1.
        Writable inside: only the size-limited tmpfs mounts /tmp, /dev/shm and the scratch
        dir; the root and /dev are remounted read-only once everything is mounted."""
        assert self.bwrap, "bubblewrap is not installed"
        scratch = AGENT_SCRATCH
        argv = [self.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
                "--cap-drop", "ALL", "--as-pid-1", "--ro-bind", "/usr", "/usr"]
        for top in ("/lib", "/lib64", "/bin", "/sbin"):
            if os.path.islink(top):
                argv += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                argv += ["--ro-bind", top, top]
        for f in ("/etc/ld.so.cache", "/etc/localtime"):
            argv += ["--ro-bind-try", f, f]
        argv += ["--proc", "/proc", "--dev", "/dev",
                 "--size", str(scratch_bytes), "--tmpfs", "/tmp",
                 "--size", str(scratch_bytes), "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
        for p in self.read_paths():
            argv += ["--ro-bind", p, p]
        # The scratch dir is bubblewrap's own size-limited tmpfs, gone with the namespace.
        argv += ["--size", str(scratch_bytes), "--tmpfs", scratch, "--chdir", scratch,
                 "--remount-ro", "/"]
        for k, v in guest_env(scratch).items():
            argv += ["--setenv", k, v]
        argv += ["--seccomp", "{seccomp_fd}", "--", self.interpreter, "-I", "-S", "-B",
                 os.path.join(self.guest_dir, "crib_zygote.py"), scratch, ",".join(AGENT_PRELOAD),
                 *self.site_dirs]
        return argv

    def landlock_spec(self, scratch: str) -> dict[str, Any]:
        return {"read_exec": [*self.read_paths(), "/usr"], "read": [], "full": [scratch],
                "files": {p: a for p, a in DEVICE_FILES.items() if os.path.exists(p)}}


def precompile_guest() -> None:
    """Byte-compile the guest modules once: inside the sandbox they are read-only, and
    compiling them on every agent-tier start would cost more than the rest of the startup."""
    try:
        compileall.compile_dir(GUEST_DIR, quiet=2, maxlevels=0)
    except OSError:
        pass  # a read-only install: the guest compiles in memory, slower but correct


def job_memfd(code: str, request: dict[str, Any], files: dict[str, str | bytes] | None) -> int:
    """The run's code, request and input files as a sealed-off memfd for the guest's fd 4."""
    checked: dict[str, bytes] = {}
    for name, content in (files or {}).items():
        norm = os.path.normpath(name)
        if os.path.isabs(norm) or norm.startswith(".."):
            raise ValueError(f"file name {name!r} escapes the scratch dir")
        checked[norm] = content if isinstance(content, bytes) else content.encode()
    try:
        data = marshal.dumps({"code": code, "request": request, "files": checked})
    except ValueError as e:
        raise ValueError("inputs, task and cheatsheet must be plain data (dict, list, str, int, "
                         f"float, bool, None): {e}") from None
    fd = os.memfd_create("crib-job", os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return fd
