"""The seccomp filter both tiers install, built as classic BPF in pure Python (no libseccomp).

Checks the architecture (anything but the native one is killed: no i386 or x32 detours), then
fails the listed syscalls with EPERM (SysV IPC and POSIX message queues among them), refuses
namespace flags in clone(), makes clone3 report ENOSYS (its flags sit behind a pointer BPF
cannot read; libc then falls back to clone), and refuses the TIOCSTI ioctl. Everything else is
allowed: the other layers (uid, rlimits, Landlock or bubblewrap's namespaces) do the rest."""
from __future__ import annotations

import errno
import platform
import struct

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000

RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
JEQ_K, JGE_K, JSET_K = 0x15, 0x35, 0x45
RET_K = 0x06

CLONE_NAMESPACES = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
TIOCSTI = 0x5412

# name -> (x86_64, aarch64); None where the syscall does not exist on that architecture.
DENIED: dict[str, tuple[int | None, int | None]] = {
    "socket": (41, 198),
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "pidfd_getfd": (438, 438), "kcmp": (312, 272),
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "add_key": (248, 217), "request_key": (249, 218), "keyctl": (250, 219),
    "unshare": (272, 97), "setns": (308, 268),
    "mount": (165, 40), "umount2": (166, 39), "open_tree": (428, 428), "move_mount": (429, 429),
    "fsopen": (430, 430), "fsconfig": (431, 431), "fsmount": (432, 432), "fspick": (433, 433),
    "mount_setattr": (442, 442), "chroot": (161, 51), "pivot_root": (155, 41),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294), "reboot": (169, 142),
    "swapon": (167, 224), "swapoff": (168, 225),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "open_by_handle_at": (304, 265), "name_to_handle_at": (303, 264),
    "acct": (163, 89), "syslog": (103, 116), "quotactl": (179, 60), "quotactl_fd": (443, 443),
    "settimeofday": (164, 170), "clock_settime": (227, 112), "adjtimex": (159, 171),
    "clock_adjtime": (305, 266), "vhangup": (153, 58), "personality": (135, 92),
    "fanotify_init": (300, 262), "lookup_dcookie": (212, 18), "move_pages": (279, 239),
    "migrate_pages": (256, 238), "mbind": (237, 235), "set_mempolicy": (238, 237),
    "memfd_secret": (447, 447),
    # System V IPC and POSIX message queues: objects that outlive the run in an IPC namespace
    # (the agent tier's is shared by the runs of a slot, the snippet tier's is the host's).
    "shmget": (29, 194), "shmat": (30, 196), "shmctl": (31, 195), "shmdt": (67, 197),
    "semget": (64, 190), "semop": (65, 193), "semctl": (66, 191), "semtimedop": (220, 192),
    "msgget": (68, 186), "msgsnd": (69, 189), "msgrcv": (70, 188), "msgctl": (71, 187),
    "mq_open": (240, 180), "mq_unlink": (241, 181), "mq_timedsend": (242, 182),
    "mq_timedreceive": (243, 183), "mq_notify": (244, 184), "mq_getsetattr": (245, 185),
    "iopl": (172, None), "ioperm": (173, None),
    "modify_ldt": (154, None), "uselib": (134, None), "_sysctl": (156, None),
    "nfsservctl": (180, None),
}
CLONE = {"x86_64": 56, "aarch64": 220}
CLONE3 = {"x86_64": 435, "aarch64": 435}
IOCTL = {"x86_64": 16, "aarch64": 29}
ARGS0_OFFSET, ARGS1_OFFSET = 16, 24  # low 32 bits of args[0], args[1] (little-endian)


class UnsupportedArch(RuntimeError):
    pass


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def build_filter(machine: str | None = None) -> bytes:
    """The filter program as bytes, ready for `bwrap --seccomp FD` or seccomp(2)."""
    machine = machine or platform.machine()
    if machine not in AUDIT_ARCH:
        raise UnsupportedArch(f"no seccomp syscall table for {machine!r}")
    idx = 0 if machine == "x86_64" else 1
    eperm = RET_ERRNO | errno.EPERM
    prog = [
        _insn(LD_W_ABS, 0, 0, 4),                           # arch
        _insn(JEQ_K, 1, 0, AUDIT_ARCH[machine]),
        _insn(RET_K, 0, 0, RET_KILL_PROCESS),
        _insn(LD_W_ABS, 0, 0, 0),                           # syscall number
    ]
    if machine == "x86_64":
        prog += [_insn(JGE_K, 0, 1, X32_SYSCALL_BIT), _insn(RET_K, 0, 0, RET_KILL_PROCESS)]
    for numbers in DENIED.values():
        nr = numbers[idx]
        if nr is not None:
            prog += [_insn(JEQ_K, 0, 1, nr), _insn(RET_K, 0, 0, eperm)]
    prog += [_insn(JEQ_K, 0, 1, CLONE3[machine]), _insn(RET_K, 0, 0, RET_ERRNO | errno.ENOSYS)]
    # clone: refuse namespace flags (A is reloaded, so these blocks come last).
    prog += [
        _insn(JEQ_K, 0, 4, CLONE[machine]),
        _insn(LD_W_ABS, 0, 0, ARGS0_OFFSET),
        _insn(JSET_K, 0, 1, CLONE_NAMESPACES),
        _insn(RET_K, 0, 0, eperm),
        _insn(RET_K, 0, 0, RET_ALLOW),
        _insn(JEQ_K, 0, 4, IOCTL[machine]),
        _insn(LD_W_ABS, 0, 0, ARGS1_OFFSET),
        _insn(JEQ_K, 0, 1, TIOCSTI),
        _insn(RET_K, 0, 0, eperm),
        _insn(RET_K, 0, 0, RET_ALLOW),
        _insn(RET_K, 0, 0, RET_ALLOW),
    ]
    return b"".join(prog)
