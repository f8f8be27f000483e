"""The seccomp program, run through a small classic-BPF interpreter (the kernel runs the same
bytes in the escape suite; this pins down each decision, for both architectures)."""
import errno
import struct

import pytest

from crib.sandbox.seccomp import (AUDIT_ARCH, CLONE, CLONE3, DENIED, IOCTL, RET_ALLOW, RET_ERRNO,
                             RET_KILL_PROCESS, TIOCSTI, X32_SYSCALL_BIT, build_filter)


def run_bpf(program: bytes, nr: int, arch: int, args=(0, 0, 0, 0, 0, 0)) -> int:
    data = struct.pack("=iIQ6Q", nr, arch, 0, *args)
    insns = [struct.unpack("=HBBI", program[i:i + 8]) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == 0x20:  # ld [k]
            acc = struct.unpack_from("=I", data, k)[0]
            pc += 1
        elif code == 0x06:  # ret k
            return k
        elif code in (0x15, 0x35, 0x45):  # jeq, jge, jset
            cond = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += 1 + (jt if cond else jf)
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_filter_decisions(machine):
    prog = build_filter(machine)
    arch = AUDIT_ARCH[machine]
    idx = 0 if machine == "x86_64" else 1
    eperm = RET_ERRNO | errno.EPERM
    assert len(prog) % 8 == 0 and len(prog) // 8 < 4096
    for name, numbers in DENIED.items():
        if numbers[idx] is not None:
            assert run_bpf(prog, numbers[idx], arch) == eperm, name
    read_nr = 0 if machine == "x86_64" else 63
    assert run_bpf(prog, read_nr, arch) == RET_ALLOW
    assert run_bpf(prog, read_nr, 0x40000003) == RET_KILL_PROCESS  # i386 / foreign arch
    assert run_bpf(prog, CLONE3[machine], arch) == RET_ERRNO | errno.ENOSYS
    fork_flags = 0x01200011  # CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD
    assert run_bpf(prog, CLONE[machine], arch, (fork_flags, 0, 0, 0, 0, 0)) == RET_ALLOW
    for ns_flag in (0x10000000, 0x20000, 0x40000000, 0x20000000):
        assert run_bpf(prog, CLONE[machine], arch, (fork_flags | ns_flag, 0, 0, 0, 0, 0)) == eperm
    assert run_bpf(prog, IOCTL[machine], arch, (1, TIOCSTI, 0, 0, 0, 0)) == eperm
    assert run_bpf(prog, IOCTL[machine], arch, (1, 0x5401, 0, 0, 0, 0)) == RET_ALLOW
    if machine == "x86_64":
        assert run_bpf(prog, X32_SYSCALL_BIT | read_nr, arch) == RET_KILL_PROCESS
