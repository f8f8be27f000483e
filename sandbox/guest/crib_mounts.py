"""The fork-server's private mount namespaces.

Namespace A (the fork-server's own; bubblewrap starts from it): every directory the guest must
read but the slot uids cannot traverse (for example /root, mode 700, above a pyenv Python) is
covered by an empty read-only tmpfs holding read-only binds of just the needed paths, at their
original locations, so the interpreter's RUNPATH and sys.path stay valid and nothing else
there exists. Namespace B = A + one size-limited tmpfs per slot scratch dir; snippet children
join it with setns (cheap, no copy), while bubblewrap copies the smaller A."""
from __future__ import annotations

import ctypes
import os

CLONE_NEWNS = 0x20000
MS_RDONLY, MS_NOSUID, MS_NODEV = 1, 2, 4
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(src: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    if _libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {src} on {target}: {os.strerror(err)}")


def _top_untraversable(path: str) -> str | None:
    """The highest ancestor of `path` that others cannot search (o-x), if any."""
    parts = os.path.abspath(path).split("/")[1:-1]
    cur = ""
    for part in parts:
        cur += "/" + part
        if not os.stat(cur).st_mode & 0o001:
            return cur
    return None


def isolate_mounts(read_paths: list[str], slots: dict[int, str], scratch_mb: int,
                   scratch_inodes: int) -> tuple[int, dict[int, int]]:
    """Enter mount namespace A (masks only; bubblewrap starts from it, and copying few mounts
    keeps it fast) and prepare namespace B = A + one size-limited tmpfs per slot scratch dir,
    which snippet children join with setns. Returns (fd of B, {uid: dir fd of its scratch})."""
    if _libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    masks: dict[str, list[str]] = {}
    for p in read_paths:
        top = _top_untraversable(p)
        if top:
            masks.setdefault(top, []).append(p)
    for top, paths in masks.items():
        fds = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in paths}
        _mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for p, fd in fds.items():
            os.makedirs(p, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", p, None, MS_BIND | MS_REC)
            _mount(None, p, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
            os.close(fd)
        _mount(None, top, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    ns_a = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    if _libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
    dirs = {}
    for uid, path in slots.items():
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV,
               f"size={scratch_mb}m,nr_inodes={scratch_inodes},mode=0700,uid={uid},gid={uid}")
        dirs[uid] = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    ns_b = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    setns(ns_a)
    os.close(ns_a)
    return ns_b, dirs


def setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "setns(CLONE_NEWNS) failed")
