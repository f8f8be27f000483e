"""Each Sandbox's run directory (under the system temp dir) and the removal of those that
Sandboxes killed without a `close()` left behind (kill -9, OOM): their owner lock is free.

The owner holds an flock on `owner.lock` in its directory for as long as it lives; the kernel
drops it when the process dies, however it dies."""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path

PREFIX = "crib-sandbox-"
LOCK = "owner.lock"
YOUNG_S = 60.0  # a directory this young may belong to a Sandbox that has not locked it yet
LEGACY_S = 86400.0  # one without a lock file (made before it had one): removed after a day


def claim_run_dir() -> tuple[Path, int]:
    """A new run directory and the fd holding its owner lock (close it after removing the
    directory)."""
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    os.chmod(root, 0o711)
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return root, fd


def sweep_stale_run_dirs() -> list[Path]:
    """Remove this user's run directories whose owner is gone; returns those removed."""
    now = time.time()
    removed = []
    for root in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            st = root.lstat()
            if not root.is_dir() or root.is_symlink() or st.st_uid != os.geteuid():
                continue
            age = now - st.st_mtime
            if age < YOUNG_S:
                continue
            try:
                fd = os.open(root / LOCK, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
            except FileNotFoundError:
                if age < LEGACY_S:
                    continue
                fd = None
            try:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while its owner lives
                shutil.rmtree(root)
                removed.append(root)
            finally:
                if fd is not None:
                    os.close(fd)
        except OSError:  # in use, or gone meanwhile
            continue
    return removed
