"""Landlock through raw syscalls (ctypes): filesystem, TCP and scoping rules for this process.

Used by the fork-server's children (snippet tier) and by the host's `check()` for the ABI."""
from __future__ import annotations

import ctypes
import os
import platform
import struct

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # same on x86_64 and arm64
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13      # ABI 2
FS_TRUNCATE = 1 << 14   # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2            # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2  # ABI 6

FILE_ONLY = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ = FS_READ_FILE | FS_READ_DIR
READ_EXEC = READ | FS_EXECUTE

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class LandlockError(OSError):
    pass


def abi_version() -> int:
    """The Landlock ABI the kernel offers; 0 when it has none (or this is not Linux)."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"):
        return 0
    v = _libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                      ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(int(v), 0)


def _fs_all(abi: int) -> int:
    mask = (1 << 13) - 1
    if abi >= 2:
        mask |= FS_REFER
    if abi >= 3:
        mask |= FS_TRUNCATE
    if abi >= 5:
        mask |= FS_IOCTL_DEV
    return mask


def make_ruleset(read_exec: list[str], read: list[str], full: list[str],
                 files: dict[str, int] | None = None,
                 opened: dict[str, int] | None = None) -> int:
    """A ruleset allowing the given paths (read+execute, read, everything, and single files
    with their own rights); TCP bind/connect denied and signals and abstract sockets scoped
    where the ABI allows. `opened` maps paths to fds to use instead of opening them (a dir in
    another mount namespace). Paths that do not exist are skipped. Returns the ruleset fd,
    which any process may later pass to `restrict_self`."""
    abi = abi_version()
    if abi < 1:
        raise LandlockError("Landlock is not available in this kernel")
    handled_fs = _fs_all(abi)
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    if abi >= 6:
        attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)
    elif abi >= 4:
        attr = struct.pack("=QQ", handled_fs, handled_net)
    else:
        attr = struct.pack("=Q", handled_fs)
    buf = ctypes.create_string_buffer(attr, len(attr))
    rfd = _libc.syscall(SYS_CREATE_RULESET, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if rfd < 0:
        raise LandlockError(ctypes.get_errno(), "landlock_create_ruleset failed")
    opened = opened or {}
    try:
        rules = [(p, READ_EXEC) for p in read_exec] + [(p, READ) for p in read]
        rules += [(p, handled_fs) for p in full] + list((files or {}).items())
        for path, access in rules:
            if path in opened:
                fd, is_dir = opened[path], True
            else:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue
                is_dir = os.path.isdir(path)
            try:
                if not is_dir:
                    access &= FILE_ONLY
                access &= handled_fs
                rule = ctypes.create_string_buffer(struct.pack("=Qi", access, fd), 12)
                if _libc.syscall(SYS_ADD_RULE, ctypes.c_int(rfd), ctypes.c_int(RULE_PATH_BENEATH),
                                 rule, ctypes.c_uint32(0)) < 0:
                    raise LandlockError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
            finally:
                if path not in opened:
                    os.close(fd)
    except BaseException:
        os.close(rfd)
        raise
    return rfd


def restrict_self(ruleset_fd: int) -> None:
    """Confine this process and its future children (needs no_new_privs or CAP_SYS_ADMIN)."""
    if _libc.syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)) < 0:
        raise LandlockError(ctypes.get_errno(), "landlock_restrict_self failed")


def restrict(read_exec: list[str], read: list[str], full: list[str],
             files: dict[str, int] | None = None) -> int:
    """make_ruleset + restrict_self for this process. Returns the ABI used."""
    rfd = make_ruleset(read_exec, read, full, files)
    try:
        restrict_self(rfd)
    finally:
        os.close(rfd)
    return abi_version()
