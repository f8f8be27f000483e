"""The escape suite: every attack must fail in both tiers, and each is checked from the host
side (the host's listener saw no connection, the host's file is untouched, the secret is not
in anything the guest produced, the host is alive and untraced)."""
import errno
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from crib.sandbox import Limits
from tests.sandbox.conftest import run, slot_uid_pids


@pytest.fixture
def open_dir():
    """A host dir every uid may read and write: so only the sandbox can be what blocks."""
    d = Path(tempfile.mkdtemp(prefix="crib-escape-"))
    os.chmod(d, 0o777)
    yield d
    subprocess.run(["rm", "-rf", str(d)], check=False)


def _produced(r) -> str:
    return f"{r.stdout}\n{r.stderr}\n{r.value}\n{r.error}"


def test_tcp_connect_to_host_listener(sb, tier):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.setblocking(False)
    port = srv.getsockname()[1]
    r = run(sb, f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                "s.sendall(b'escaped')", tier)
    with pytest.raises(BlockingIOError):
        srv.accept()  # nothing ever connected
    srv.close()
    assert not r.ok and "PermissionError" in r.error


def test_udp_send_to_host(sb, tier):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    port = rx.getsockname()[1]
    r = run(sb, "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                f"s.sendto(b'escaped', ('127.0.0.1', {port}))", tier)
    time.sleep(0.05)
    with pytest.raises(BlockingIOError):
        rx.recvfrom(100)
    rx.close()
    assert not r.ok


def test_unix_socket_outside(sb, tier, open_dir):
    path = str(open_dir / "host.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    os.chmod(path, 0o777)
    srv.listen(8)
    srv.setblocking(False)
    r = run(sb, f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({path!r})\n"
                "s.sendall(b'escaped')", tier)
    with pytest.raises(BlockingIOError):
        srv.accept()
    srv.close()
    assert not r.ok


def test_read_protected_and_secret_files(sb, tier, open_dir, host_secret):
    secret = open_dir / "secret.txt"
    secret.write_text(host_secret)
    os.chmod(secret, 0o644)
    os.chmod(open_dir, 0o755)
    # Control: outside the sandbox the slot uid *can* read it, so the sandbox is what blocks.
    uid = sb.uids[0]
    ctl = subprocess.run(["cat", str(secret)], user=uid, group=uid, extra_groups=[],
                         capture_output=True, text=True)
    assert ctl.stdout == host_secret
    code = ("out = []\n"
            f"for p in ['/etc/shadow', {str(secret)!r}, '/root/.bash_history',\n"
            "          '/proc/1/environ']:\n"
            "    try:\n"
            "        out.append(open(p).read())\n"
            "    except OSError as e:\n"
            "        out.append(type(e).__name__)\n"
            "print(out)\n")
    r = run(sb, code, tier)
    assert r.ok, r.error
    assert host_secret not in _produced(r)
    assert "root:" not in r.stdout


def test_host_environment_is_invisible(sb, tier, host_secret):
    # The fork-server itself never had the secret.
    fs_env = Path(f"/proc/{sb._fs.proc.pid}/environ").read_bytes().decode()
    assert host_secret not in fs_env and "CRIB_TEST_SECRET" not in fs_env
    code = ("import os, glob\n"
            "print(dict(os.environ))\n"
            f"paths = glob.glob('/proc/*/environ') + ['/proc/{os.getpid()}/environ', "
            "'/proc/self/environ', '/proc/1/environ']\n"
            "for p in paths:\n"
            "    try:\n"
            "        print(p, open(p, 'rb').read())\n"
            "    except OSError as e:\n"
            "        print(p, type(e).__name__)\n")
    r = run(sb, code, tier)
    assert r.ok, r.error
    assert host_secret not in _produced(r)
    assert "OPENAI_API_KEY" not in r.stdout and "CRIB_TEST_SECRET" not in r.stdout


def test_write_outside_scratch(sb, tier, open_dir):
    target = open_dir / "pwned"
    code = ("import os\nres = []\n"
            f"for p in [{str(target)!r}, '/tmp/crib-pwned', '/usr/pwned', "
            "os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pwned')]:\n"
            "    try:\n"
            "        open(p, 'w').write('x'); res.append('wrote ' + p)\n"
            "    except OSError as e:\n"
            "        res.append(type(e).__name__)\n"
            "print(res)\n")
    r = run(sb, code, tier)
    assert r.ok, r.error
    assert not target.exists()
    assert not Path("/tmp/crib-pwned").exists() and not Path("/usr/pwned").exists()


def test_signal_the_host(sb, tier):
    hits = []
    old = signal.signal(signal.SIGUSR1, lambda *_: hits.append(1))
    try:
        code = ("import os, signal\nres = []\n"
                f"for pid in ({os.getpid()}, {sb._fs.proc.pid}):\n"
                "    try:\n"
                "        os.kill(pid, signal.SIGUSR1); res.append('sent')\n"
                "    except OSError as e:\n"
                "        res.append(type(e).__name__)\n"
                "print(res)\n"
                "os.kill(-1, signal.SIGKILL)\n")
        r = run(sb, code, tier)
        time.sleep(0.05)
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert hits == []
    assert sb._fs.proc.poll() is None  # the fork-server survived kill(-1)
    assert "sent" not in r.stdout
    assert run(sb, "print('still works')", tier).ok


def _uid_processes(sb) -> list[int]:
    """Processes of the slot uids, once every slot is back (cleanup ends after the result),
    other than the agent tier's zygotes and their bubblewrap, and the snippet slots' warm
    children (each waiting for its slot's next run), which live on by design
    (a process a run left inside a zygote's sandbox is the zygote's child: it is listed).
    A warm child being forked is of the slot's uid before it takes its warm name: asked
    again for up to 2 s, so only processes that stay are reported."""
    for _ in range(200):
        if sb._pool.free_count() == sb._pool.size:
            break
        time.sleep(0.05)
    for _ in range(40):
        pids = slot_uid_pids(sb, {pid for z in sb.zygotes() for pid in z["pids"]}
                             | {w["pid"] for w in sb.warm_children()})
        if not pids:
            return []
        time.sleep(0.05)
    return pids


def test_bounded_fork_bomb(sb, tier):
    code = ("import os, time\nn = 0\n"
            "try:\n"
            "    for i in range(100000):\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(60); os._exit(0)\n"
            "        n += 1\n"
            "except OSError as e:\n"
            "    print('stopped after', n, e.errno)\n")
    r = run(sb, code, tier, limits=Limits(max_procs=24, timeout_s=20))
    assert "stopped after" in r.stdout
    assert int(r.stdout.split()[2]) < 24
    assert _uid_processes(sb) == []  # every child was killed and reaped
    assert run(sb, "print('after the bomb')", tier).ok


def test_4gib_allocation(sb, tier):
    r = run(sb, "b = bytearray(4 << 30)\nprint(len(b))", tier)
    assert not r.ok and r.limit_hit == "memory"


def test_infinite_loop(sb, tier):
    r = run(sb, "while True:\n    pass", tier, limits=Limits(timeout_s=1.5))
    assert not r.ok and r.limit_hit in ("timeout", "cpu")
    assert _uid_processes(sb) == []


def test_fill_the_disk(sb, tier):
    code = ("import errno\ntotal, why = 0, None\n"
            "for i in range(10000):\n"
            "    try:\n"
            "        with open(f'f{i}', 'wb') as f:\n"
            "            while True:\n"
            "                f.write(b'x' * (1 << 20)); total += 1 << 20\n"
            "    except OSError as e:\n"
            "        if e.errno == errno.ENOSPC:\n"
            "            why = 'ENOSPC'; break\n"
            "print(total, why)\n")
    r = run(sb, code, tier, limits=Limits(file_mb=8, timeout_s=30))
    total, why = r.stdout.split()
    assert why == "ENOSPC" and int(total) <= (32 << 20)
    # Host side: the scratch is a bounded tmpfs in the sandbox's own mount namespace; the
    # host's directories under it got nothing.
    for d in sb._slot_dirs:
        assert os.listdir(d) == []


def test_exhaust_file_descriptors(sb, tier):
    before = len(os.listdir("/proc/self/fd"))
    code = ("fs = []\ntry:\n    while True:\n        fs.append(open('/dev/null'))\n"
            "except OSError as e:\n    print(len(fs), e.errno)\n")
    r = run(sb, code, tier, limits=Limits(max_open_files=64))
    n, err = map(int, r.stdout.split())
    assert err == errno.EMFILE and n < 64
    assert len(os.listdir("/proc/self/fd")) <= before + 1


def test_ptrace(sb, tier):
    code = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            f"r1 = libc.ptrace(16, {os.getpid()}, 0, 0); e1 = ctypes.get_errno()\n"
            "r2 = libc.ptrace(0, 0, 0, 0); e2 = ctypes.get_errno()\n"
            "print(r1, e1, r2, e2)\n")
    r = run(sb, code, tier)
    r1, e1, r2, e2 = map(int, r.stdout.split())
    assert r1 == -1 and e1 == errno.EPERM and r2 == -1 and e2 == errno.EPERM
    status = Path("/proc/self/status").read_text()
    assert "TracerPid:\t0" in status


def test_kernel_attack_surface_denied(sb, tier):
    """unshare, mount, io_uring, bpf, keyctl, userfaultfd: each fails with EPERM."""
    code = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "calls = {'unshare': (272, 0x10000000), 'mount': (165, 0, 0, 0, 0, 0), "
            "'io_uring_setup': (425, 8, 0), 'bpf': (321, 0, 0, 0), 'keyctl': (250, 0), "
            "'userfaultfd': (323, 0), 'perf_event_open': (298, 0, 0, 0, 0, 0), "
            "'clone_newuser': (56, 0x10000000 | 17, 0, 0, 0, 0)}\n"
            "out = {}\n"
            "for name, args in calls.items():\n"
            "    r = libc.syscall(*[ctypes.c_long(a) for a in args])\n"
            "    out[name] = (r, ctypes.get_errno())\n"
            "print(out)\n")
    import platform
    if platform.machine() != "x86_64":
        pytest.skip("syscall numbers in this test are x86_64")
    r = run(sb, code, tier)
    out = eval(r.stdout)  # a dict of ints printed by the guest
    for name, (rc, err) in out.items():
        assert rc == -1 and err == errno.EPERM, (name, rc, err)


def test_host_keeps_no_zombies(sb, tier):
    run(sb, "import os\nfor _ in range(5):\n    os.fork() or os._exit(0)\n", tier)
    kids = []
    for t in os.listdir("/proc/self/task"):
        kids += Path(f"/proc/self/task/{t}/children").read_text().split()
    zombies = [p for p in kids if Path(f"/proc/{p}/stat").exists()
               and Path(f"/proc/{p}/stat").read_text().split(") ")[1].startswith("Z")
               and os.stat(f"/proc/{p}").st_uid in sb.uids]
    assert zombies == []
    assert sb.subreaper


def test_nothing_else_under_root_is_visible(sb, tier, host_secret):
    """The interpreter lives under /root (pyenv); only its prefix may be visible there."""
    secret = Path("/root") / f"crib-test-secret-{os.getpid()}"
    secret.write_text(host_secret)
    os.chmod(secret, 0o644)
    try:
        code = ("import os\n"
                "try:\n    print(sorted(os.listdir('/root')))\n"
                "except OSError as e:\n    print(type(e).__name__)\n"
                f"try:\n    print(open({str(secret)!r}).read())\n"
                "except OSError as e:\n    print(type(e).__name__)\n")
        r = run(sb, code, tier)
    finally:
        secret.unlink()
    assert r.ok, r.error
    assert host_secret not in _produced(r)
    listing = r.stdout.splitlines()[0]
    assert listing in ("PermissionError", "['.pyenv']") or "crib-test-secret" not in listing


def test_forged_result_does_not_leave_the_guest_running(sb, tier):
    """A guest that sends a fake result, closes the channel and keeps going is killed."""
    code = ("import os, time\n"
            "os.write(3, b'{\"method\": \"result\", \"params\": '\n"
            "            b'{\"value\": 1, \"exit_code\": 0}}\\n')\n"
            "os.close(3)\n"
            "if os.fork() == 0:\n"
            "    os.setsid(); time.sleep(120)\n"
            "time.sleep(120)\n")
    r = run(sb, code, tier, limits=Limits(timeout_s=60))
    assert r.value == 1 and r.wall_ms < 60_000  # the host took the result and returned
    assert _uid_processes(sb) == []  # and nothing of the guest survived
