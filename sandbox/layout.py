"""What the guest sees: the paths it may read, the bubblewrap command line (agent tier), the
Landlock rules (snippet tier), and the job directory that carries one run's code and inputs.

Paths are mirrored (the interpreter prefix, the venv's site-packages and the guest runtime
appear inside at their host paths) so the interpreter's RUNPATH and sys.path stay valid."""
from __future__ import annotations

import marshal
import os
import shutil
import site
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.guest import GUEST_DIR

LL_READ_FILE, LL_WRITE_FILE = 1 << 2, 1 << 1
DEVICE_FILES = {"/dev/null": LL_READ_FILE | LL_WRITE_FILE, "/dev/zero": LL_READ_FILE,
                "/dev/urandom": LL_READ_FILE, "/dev/random": LL_READ_FILE,
                "/etc/localtime": LL_READ_FILE, "/etc/ld.so.cache": LL_READ_FILE}
PRELOAD = ["json", "math", "re", "random", "itertools", "functools", "collections", "fractions",
           "decimal", "statistics", "heapq", "bisect", "string", "datetime", "typing",
           "dataclasses", "copy", "operator", "textwrap", "ast", "traceback", "io", "contextlib",
           "inspect", "shutil", "socket", "unicodedata", "resource", "crib_runtime", "crib_guest",
           "crib_landlock", "numpy"]


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

    def bwrap_argv(self, job: str, scratch: str, scratch_bytes: int) -> list[str]:
        assert self.bwrap, "bubblewrap is not installed"
        argv = [self.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
                "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr"]
        for top in ("/lib", "/lib64", "/bin", "/sbin"):
            if os.path.islink(top):
                argv += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                argv += ["--ro-bind", top, top]
        for f in ("/etc/ld.so.cache", "/etc/localtime"):
            argv += ["--ro-bind-try", f, f]
        argv += ["--proc", "/proc", "--dev", "/dev",
                 "--size", str(scratch_bytes), "--tmpfs", "/tmp",
                 "--size", str(scratch_bytes), "--tmpfs", "/dev/shm"]
        for p in self.read_paths():
            argv += ["--ro-bind", p, p]
        # The scratch dir is bubblewrap's own size-limited tmpfs, gone with the namespace.
        argv += ["--ro-bind", job, job, "--size", str(scratch_bytes), "--tmpfs", scratch,
                 "--chdir", scratch]
        for k, v in guest_env(scratch).items():
            argv += ["--setenv", k, v]
        argv += ["--seccomp", "{seccomp_fd}", "--", self.interpreter, "-I", "-S", "-B",
                 os.path.join(self.guest_dir, "crib_guest.py"), job, *self.site_dirs]
        return argv

    def landlock_spec(self, job: str, scratch: str) -> dict[str, Any]:
        return {"read_exec": [*self.read_paths(), "/usr"], "read": [job], "full": [scratch],
                "files": {p: a for p, a in DEVICE_FILES.items() if os.path.exists(p)}}


def precompile_guest() -> None:
    """Byte-compile the guest modules once: inside the sandbox they are read-only, and
    compiling them on every agent-tier start would cost more than the rest of the startup."""
    import compileall

    try:
        compileall.compile_dir(GUEST_DIR, quiet=2, maxlevels=0)
    except OSError:
        pass  # a read-only install: the guest compiles in memory, slower but correct


def write_job(job_dir: Path, code: str, request: dict[str, Any],
              files: dict[str, str | bytes] | None) -> None:
    """Fill the slot's job directory, readable (not writable) by the slot uid. The directory
    itself persists (the slot's Landlock ruleset refers to it), its content is per run."""
    clear_dir(job_dir)
    _write(job_dir / "main.py", code.encode())
    try:
        data = marshal.dumps(request)
    except ValueError as e:
        raise ValueError("inputs, task and cheatsheet must be plain data (dict, list, str, int, "
                         f"float, bool, None): {e}") from None
    _write(job_dir / "request.marshal", data)
    if files:
        root = (job_dir / "files").resolve()
        for name, content in files.items():
            dest = (root / name).resolve()
            if root not in dest.parents:
                raise ValueError(f"file name {name!r} escapes the scratch dir")
            dest.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            if isinstance(content, bytes):
                dest.write_bytes(content)
            else:
                dest.write_text(content)
    if files:  # readable by the slot uid whatever the umask
        for dirpath, _dirnames, filenames in os.walk(job_dir / "files"):
            os.chmod(dirpath, 0o755)
            for f in filenames:
                os.chmod(os.path.join(dirpath, f), 0o644)


def clear_dir(path: Path) -> None:
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        os.fchmod(fd, 0o644)
        os.write(fd, data)
    finally:
        os.close(fd)
