"""Which isolation tiers work on this machine, and why not: each tier is probed for real
(a trivial bubblewrap run as a spare uid; a child that applies no_new_privs, Landlock and the
seccomp filter)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

from pydantic import BaseModel

from crib.sandbox.guest import GUEST_DIR
from crib.sandbox.guest.crib_landlock import abi_version
from crib.sandbox.layout import Layout
from crib.sandbox.seccomp import UnsupportedArch, build_filter

PROBE_UID = 65500  # above every slot block; only used for these short probes


class TierStatus(BaseModel):
    ok: bool
    reason: str


class CheckReport(BaseModel):
    platform: str
    machine: str
    root: bool
    bwrap: str | None
    landlock_abi: int
    agent: TierStatus
    snippet: TierStatus
    notes: list[str] = []

    @property
    def any_ok(self) -> bool:
        return self.agent.ok or self.snippet.ok


def _probe_bwrap(layout: Layout) -> TierStatus:
    if not layout.bwrap:
        return TierStatus(ok=False, reason="bubblewrap (bwrap) is not installed; "
                                           "install it with `apt-get install bubblewrap`")
    argv = [layout.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
            "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp"]
    for top in ("/lib", "/lib64", "/bin"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    argv.append("/usr/bin/true")
    root = os.geteuid() == 0  # probe as an unprivileged uid, as the runs will be
    try:
        r = subprocess.run(argv, env={}, capture_output=True, timeout=20,
                           user=PROBE_UID if root else None, group=PROBE_UID if root else None,
                           extra_groups=[] if root else None)
    except (OSError, subprocess.TimeoutExpired) as e:
        return TierStatus(ok=False, reason=f"bubblewrap could not run: {e}")
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace").strip()
        return TierStatus(ok=False, reason=f"bubblewrap failed ({err or r.returncode}); user "
                                           "namespaces may be disabled "
                                           "(kernel.unprivileged_userns_clone, "
                                           "user.max_user_namespaces, AppArmor)")
    return TierStatus(ok=True, reason=f"bubblewrap at {layout.bwrap} works with user namespaces")


_PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
import crib_confine, crib_landlock
crib_confine.no_new_privs()
abi = crib_landlock.restrict([sys.argv[1]], [], [])
crib_confine.load_seccomp(bytes.fromhex(sys.argv[2]), sys.argv[3])
print(abi)
"""


def _probe_landlock(layout: Layout, abi: int) -> TierStatus:
    if abi < 1:
        return TierStatus(ok=False, reason="the kernel has no Landlock (needs Linux >= 5.13 with "
                                           "landlock in the lsm= list)")
    try:
        program = build_filter().hex()
    except UnsupportedArch as e:
        return TierStatus(ok=False, reason=str(e))
    try:
        r = subprocess.run([layout.interpreter, "-I", "-S", "-c", _PROBE, str(GUEST_DIR), program,
                            platform.machine()], env={}, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return TierStatus(ok=False, reason=f"probe could not run: {e}")
    if r.returncode != 0:
        return TierStatus(ok=False, reason="confining a process failed: "
                                           + r.stderr.decode(errors="replace").strip()[-300:])
    extras = []
    if abi < 4:
        extras.append("no TCP rules (ABI < 4; seccomp still denies socket())")
    if abi < 6:
        extras.append("no signal/abstract-socket scoping (ABI < 6)")
    why = f"fork-server with Landlock ABI {abi} and seccomp" + (
        f"; {'; '.join(extras)}" if extras else "")
    return TierStatus(ok=True, reason=why)


def check() -> CheckReport:
    """Probe both tiers on this machine."""
    layout = Layout.detect()
    notes: list[str] = []
    if not sys.platform.startswith("linux"):
        no = TierStatus(ok=False, reason=f"sandboxing needs Linux; this is {sys.platform}")
        return CheckReport(platform=sys.platform, machine=platform.machine(), root=False,
                           bwrap=None, landlock_abi=0, agent=no, snippet=no,
                           notes=["use --unsafe-no-sandbox only for code you trust"])
    abi = abi_version()  # after the platform check: Landlock's syscalls are Linux's
    root = os.geteuid() == 0
    if not root:
        notes.append("not running as root: runs share your uid (no per-slot uids, so "
                     "RLIMIT_NPROC counts all your processes)")
    return CheckReport(platform=sys.platform, machine=platform.machine(), root=root,
                       bwrap=layout.bwrap, landlock_abi=abi, agent=_probe_bwrap(layout),
                       snippet=_probe_landlock(layout, abi), notes=notes)
