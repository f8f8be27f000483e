"""Per-run latency of the sandbox tiers, beside a plain `python -c` subprocess, in one run.

    python bench/sandbox_latency.py [--runs 200] [--cold-runs 20] [--json]

Prints p50/p90 (ms) of: a trivial snippet in the snippet tier (fork-server + Landlock +
seccomp); in the agent tier on a slot's warm zygote (bubblewrap sandbox already up, one fork
per run). Those two are timed with 20 ms between runs, so each run starts on an idle sandbox
(the last run's teardown and its slot's next warm process done: what one run waits for), and
again back to back (`*_back_to_back`: each run then shares the 2 cores with the teardown of
the one before, so that figure is also bounded by the CPU a run costs in all); and in the
agent tier as the first run of a slot (bubblewrap and the zygote's interpreter start first:
`agent_first_run`); one guest->host RPC round trip (a `complete` call answered by a plain async
handler, timed inside the guest); the CPU each trivial run costs the host process and the
sandbox's own processes (fork-server, zygotes, their runs); 32 concurrent runs of each tier;
the memory of the agent tier's zygotes after those (RSS and PSS per zygote, bubblewrap
included) and of the snippet slots' warm children; and the baselines
`python -c` and `python -I -S -c` as plain subprocesses. The load average is printed too: on a
shared 2-core machine it moves every figure. Targets (docs/targets.md): snippet p50 <= 5 ms, agent
p50 <= 40 ms."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crib.sandbox import Sandbox  # noqa: E402

TRIVIAL = "x = 1\n"
GAP_S = 0.02  # between runs in the main latency figures


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def summary(xs: list[float]) -> dict:
    return {"n": len(xs), "p50_ms": round(pct(xs, 0.5), 2), "p90_ms": round(pct(xs, 0.9), 2),
            "min_ms": round(min(xs), 2)}


def _proc_cpu_ms(pid: int) -> float:
    """utime + stime + cutime + cstime of a process (its reaped children included)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) * 1000 / os.sysconf("SC_CLK_TCK")


def cpu_ms(sb: Sandbox) -> tuple[float, float]:
    """(host process, sandbox processes) CPU so far, in ms. The sandbox side is the
    fork-server (with every run or bubblewrap it reaped) and the agent tier's zygotes (with
    every run they reaped); zygotes that stopped take their share with them."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    host = (ru.ru_utime + ru.ru_stime) * 1000
    pids = [sb._fs.proc.pid] + [p for z in getattr(sb, "zygotes", list)() for p in z["pids"]]
    return host, sum(_proc_cpu_ms(p) for p in pids)


async def tier_latency(sb: Sandbox, tier: str, n: int,
                       gap_s: float = 0.0) -> tuple[list[float], dict]:
    """Runs one after another; with `gap_s`, each starts that long after the last one ended
    (so the last run's teardown and the next warm process are done: what one run waits)."""
    for _ in range(5):
        await sb.run(TRIVIAL, tier=tier)
    out = []
    host0, box0 = cpu_ms(sb)
    for _ in range(n):
        if gap_s:
            await asyncio.sleep(gap_s)
        t0 = time.perf_counter()
        r = await sb.run(TRIVIAL, tier=tier)
        out.append((time.perf_counter() - t0) * 1000)
        if not r.ok:
            raise SystemExit(f"{tier} run failed: {r.error}\n{r.stderr}")
    await asyncio.sleep(0.2)  # the last run's teardown
    host1, box1 = cpu_ms(sb)
    return out, {"host_ms": round((host1 - host0) / n, 2),
                 "sandbox_ms": round((box1 - box0) / n, 2)}


async def first_run_latency(sb: Sandbox, n: int) -> list[float] | None:
    """The first agent run of a slot: its zygote is stopped before each run."""
    if not hasattr(sb, "stop_zygotes"):
        return None  # a sandbox without zygotes: every agent run is a first run
    out = []
    for _ in range(n):
        while sb._pool.free_count() < sb._pool.size:  # the last run's teardown: its zygote is busy
            await asyncio.sleep(0.005)
        sb.stop_zygotes()
        t0 = time.perf_counter()
        r = await sb.run(TRIVIAL, tier="agent")
        out.append((time.perf_counter() - t0) * 1000)
        if not r.ok:
            raise SystemExit(f"agent first run failed: {r.error}\n{r.stderr}")
    return out


def memory_summary(procs: list[dict]) -> dict:
    """Count, RSS and PSS each, PSS in all (MB) of processes given as dicts with rss_kb, pss_kb."""
    if not procs:
        return {"n": 0}
    return {"n": len(procs),
            "rss_mb_each": round(sum(p["rss_kb"] for p in procs) / len(procs) / 1024, 1),
            "pss_mb_each": round(sum(p["pss_kb"] for p in procs) / len(procs) / 1024, 1),
            "pss_mb_total": round(sum(p["pss_kb"] for p in procs) / 1024, 1)}


async def rpc_latency(sb: Sandbox, n: int) -> list[float]:
    async def handler(method: str, params: dict) -> dict:
        return {"text": "ok", "tokens_in": 1, "tokens_out": 1}
    code = ("import time, crib_runtime as rt\nts = []\n"
            f"for _ in range({n + 10}):\n"
            "    t0 = time.perf_counter(); rt.llm('ping')\n"
            "    ts.append((time.perf_counter() - t0) * 1000)\n"
            "def result():\n    return ts[10:]\n")
    from crib.sandbox import Limits
    r = await sb.run(code, tier="snippet", entry="result", rpc=handler,
                     limits=Limits(max_llm_calls=n + 10, timeout_s=120))
    if not r.ok:
        raise SystemExit(f"rpc run failed: {r.error}")
    return r.value


async def concurrent(sb: Sandbox, tier: str, k: int = 32, rounds: int = 5) -> dict:
    """Steady state: one untimed round first (it starts the agent tier's zygotes)."""
    await asyncio.gather(*[sb.run(TRIVIAL, tier=tier) for _ in range(k)])
    t0 = time.perf_counter()
    for _ in range(rounds):
        rs = await asyncio.gather(*[sb.run(TRIVIAL, tier=tier) for _ in range(k)])
        assert all(r.ok for r in rs)
    dt = time.perf_counter() - t0
    return {"runs": k * rounds, "runs_per_s": round(k * rounds / dt, 1)}


def subprocess_latency(argv: list[str], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True)
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--cold-runs", type=int, default=20, help="first runs of a slot to time")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n = args.runs
    load0 = os.getloadavg()
    res: dict = {}
    async with Sandbox() as sb:
        for tier in ("snippet", "agent"):
            times, cpu = await tier_latency(sb, tier, n, GAP_S)
            res[tier] = summary(times)
            res[f"{tier}_cpu_per_run"] = cpu
            res[f"{tier}_back_to_back"] = summary((await tier_latency(sb, tier, n))[0])
        first = await first_run_latency(sb, args.cold_runs)
        if first:
            res["agent_first_run"] = summary(first)
        res["rpc_round_trip"] = summary(await rpc_latency(sb, n))
        res["snippet_x32_concurrent"] = await concurrent(sb, "snippet")
        res["agent_x32_concurrent"] = await concurrent(sb, "agent", rounds=5)
        res["agent_zygote_memory"] = memory_summary(sb.zygotes())  # bubblewrap included
        res["snippet_warm_child_memory"] = memory_summary(sb.warm_children())
    res["python -c"] = summary(subprocess_latency([sys.executable, "-c", TRIVIAL], n))
    res["python -I -S -c"] = summary(subprocess_latency(
        [sys.executable, "-I", "-S", "-c", TRIVIAL], n))
    res["loadavg_start_end"] = [round(load0[0], 2), round(os.getloadavg()[0], 2)]
    res["cpus"] = os.cpu_count()
    if args.json:
        print(json.dumps(res))
        return
    for name, v in res.items():
        if isinstance(v, dict) and "p50_ms" in v:
            print(f"{name:20s} p50 {v['p50_ms']:8.2f} ms   p90 {v['p90_ms']:8.2f} ms   "
                  f"min {v['min_ms']:7.2f} ms   (n={v['n']})")
        else:
            print(f"{name:20s} {v}")


if __name__ == "__main__":
    asyncio.run(main())
