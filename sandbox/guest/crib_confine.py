"""Confinement steps for a fork-server child: rlimits, the slot uid, no_new_privs, seccomp.

Order matters and is the caller's: rlimits, then Landlock rule fds (opened as root), then
`drop_to`, then `no_new_privs`, Landlock restrict, and `load_seccomp` last."""
from __future__ import annotations

import ctypes
import os
import resource
import signal

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_GET_NAME = 16
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
SECCOMP_SET_MODE_FILTER = 1
SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def prctl(option: int, arg: int = 0) -> None:
    if _libc.prctl(option, arg, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def name() -> bytes:
    """The process name `ps` shows (comm)."""
    buf = ctypes.create_string_buffer(16)
    prctl(PR_GET_NAME, ctypes.addressof(buf))
    return buf.value


def set_name(name: bytes) -> None:
    buf = ctypes.create_string_buffer(name[:15])
    prctl(PR_SET_NAME, ctypes.addressof(buf))


RLIMITS = {"cpu": resource.RLIMIT_CPU, "as": resource.RLIMIT_AS, "nproc": resource.RLIMIT_NPROC,
           "fsize": resource.RLIMIT_FSIZE, "nofile": resource.RLIMIT_NOFILE,
           "core": resource.RLIMIT_CORE}


def apply_rlimits(limits: dict[str, int], clamp: bool = False) -> None:
    """`limits` maps names of RLIMITS to a soft limit; CPU gets one extra second of hard limit
    so SIGXCPU (reported as a CPU limit) comes before SIGKILL. With `clamp` (a process that
    cannot raise hard limits) a limit above the current hard one is lowered to it."""
    for name, soft in limits.items():
        hard = soft + 1 if name == "cpu" else soft
        if clamp:
            cur = resource.getrlimit(RLIMITS[name])[1]
            if cur != resource.RLIM_INFINITY and hard > cur:
                hard = cur
                soft = min(soft, hard)
        resource.setrlimit(RLIMITS[name], (soft, hard))


def drop_to(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def die_with_parent() -> None:
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after drop_to: a uid change clears it


def no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


class Seccomp:
    """A classic-BPF seccomp program (8-byte sock_filter records), prepared once so that a
    fork-server child only makes the syscall."""

    def __init__(self, program: bytes, machine: str) -> None:
        self._buf = ctypes.create_string_buffer(program, len(program))
        self._prog = SockFprog(len(program) // 8, ctypes.cast(self._buf, ctypes.c_void_p))
        self._nr = SYS_SECCOMP[machine]

    def install(self) -> None:
        rc = _libc.syscall(self._nr, ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(0),
                           ctypes.byref(self._prog))
        if rc != 0:
            raise OSError(ctypes.get_errno(), "seccomp(SET_MODE_FILTER) failed")


def load_seccomp(program: bytes, machine: str) -> None:
    """Install a seccomp program in this process."""
    Seccomp(program, machine).install()
