"""Learning curve: does the model get better as it works? Memory against no memory, same bench.

For one target (a dataset slice, the program-of-thought agent with the retry loop, fixed seeds)
it runs `crib solve` once per mode, each in a scope of its own:
  dc-cu    the cumulative cheatsheet with verified skills (learns in order: concurrency 1)
  skills   the verified skills alone, no curator
  none     no memory
  matched  no memory, best-of-n with n set so its calls per problem match the first memory
           run's (the compute-matched baseline: a tool library's gain must survive it)
and prints, per run, the cold part (problems 1..10, or --cold) and the warm part (the rest):
accuracy with its 95% bootstrap interval, calls and tokens per solved problem (the solver's),
the run's total calls (curator and skill repairs included), then the targets checked for each
memory run against none.

    .venv/bin/python bench/learning_curve.py --target game24 --limit 60
    .venv/bin/python bench/learning_curve.py --target game24 --limit 14 --modes skills,none
    .venv/bin/python bench/learning_curve.py --target equation-balancer
    .venv/bin/python bench/learning_curve.py --target gsm8k

Each run's summary JSON is kept in --out-dir; the embedded model (CRIB_LOCAL_MODEL, default
1.5B) serves unless OPENAI_BASE_URL points elsewhere. The LLM cache is off, so every figure is
a fresh run. On a shared 2-core CPU the 1.5B model makes 5-10 tokens/s: 60 puzzles take hours.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
TARGETS = {  # file, domain, default limit, what memory must achieve
    "game24": ("game24_dc100.jsonl", "game24", 60, "warm"),
    "equation-balancer": ("equation_balancer.jsonl", "equation-balancer", 60, "warm"),
    "gsm8k": ("gsm8k_test.jsonl", "math-numeric", 50, "no-harm"),
}
WARM_ACCURACY = 0.90
TOKEN_RATIO = 1 / 5
NO_HARM_POINTS = 0.02
MEMORY_RUNS = ("dc-cu", "skills")  # the modes whose targets are checked against none


def crib_solve(args: list[str], log: Path) -> dict:
    """One `crib solve ... --json` run; its summary (the last stdout line)."""
    cmd = [str(ROOT / ".venv" / "bin" / "crib"), "solve", *args, "--cache", "off", "--json"]
    with log.open("w") as err:
        r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
    lines = r.stdout.strip().splitlines()
    if r.returncode not in (0, 1) or not lines:
        sys.exit(f"crib solve failed (exit {r.returncode}); see {log}")
    return json.loads(lines[-1])


def calls_per_attempt(summary: dict) -> float:
    parts = [p for p in (summary["learning"]["cold"], summary["learning"]["warm"]) if p]
    attempts = sum(p["attempts"] for p in parts)
    return sum(p["calls"] for p in parts) / attempts if attempts else 1.0


def fmt_part(p: dict | None) -> str:
    if not p:
        return "—"
    low, high = 100 * p["accuracy_low"], 100 * p["accuracy_high"]
    acc = f"{100 * p['accuracy']:.0f}% ({low:.0f}–{high:.0f})"
    tps = "—" if p["tokens_per_solved"] is None else f"{p['tokens_per_solved']:,.0f}"
    cps = "—" if p["calls_per_solved"] is None else f"{p['calls_per_solved']:.2f}"
    return f"{acc:>16} {cps:>6} {tps:>9}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=sorted(TARGETS), default="game24")
    ap.add_argument("--limit", type=int, help="problems (default: the target's)")
    ap.add_argument("--modes", default="dc-cu,skills,none,matched")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cold", type=int, default=10, help="the cold part: the first N problems")
    ap.add_argument("--out-dir", type=Path, default=Path(tempfile.gettempdir()) / "crib-bench")
    opts = ap.parse_args()
    name, domain, default_limit, goal = TARGETS[opts.target]
    data = DATA / name
    if not data.is_file():
        print(f"skipped: {data} is not there (the shared datasets are not checked out)")
        return 0
    limit = opts.limit or default_limit
    stamp = time.strftime("%Y%m%d-%H%M%S")
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    base = [str(data), "--domain", domain, "--limit", str(limit), "--seed", str(opts.seed),
            "--agent", "program-of-thought", "--loop", "retry", "--concurrency", "1",
            "--cold", str(opts.cold)]
    runs: dict[str, dict] = {}
    for mode in opts.modes.split(","):
        args = list(base)
        if mode == "matched":
            memory_runs = [m for m in MEMORY_RUNS if m in runs]
            if not memory_runs or "none" not in runs:
                sys.exit("--modes matched needs a memory run (dc-cu or skills) and none before it")
            mem = runs[memory_runs[0]]
            n = max(1, math.ceil(mem["calls"] / max(mem["n"], 1) / calls_per_attempt(runs["none"])))
            args[args.index("retry")] = "best-of-n"
            args += ["--samples", str(n), "--memory", "none"]
            label = f"matched to {memory_runs[0]} (best-of-{n})"
        else:
            args += ["--memory", mode]
            label = mode
        args += ["--scope", f"bench-{opts.target}-{stamp}-{mode}"]
        started = time.monotonic()
        summary = crib_solve(args, opts.out_dir / f"{opts.target}-{stamp}-{mode}.log")
        summary["bench_wall_s"] = round(time.monotonic() - started, 1)
        runs[mode] = summary
        (opts.out_dir / f"{opts.target}-{stamp}-{mode}.json").write_text(json.dumps(summary))
        print(f"{label}: run {summary['run_id']}, {summary['n']} problems, accuracy "
              f"{100 * (summary['accuracy'] or 0):.1f}%, {summary['calls']} calls, "
              f"{summary['bench_wall_s']} s", flush=True)

    print(f"\n{opts.target}, first {limit} problems of {name}, program-of-thought, retry, seed "
          f"{opts.seed} (figures from a shared, noisy machine)")
    print(f"{'run':<22} {'cold acc (95% CI)':>16} {'c/sol':>6} {'tok/sol':>9} | "
          f"{'warm acc (95% CI)':>16} {'c/sol':>6} {'tok/sol':>9} | calls/problem")
    for mode, s in runs.items():
        curve = s["learning"]
        print(f"{mode:<22} {fmt_part(curve['cold'])} | {fmt_part(curve['warm'])} | "
              f"{s['calls'] / max(s['n'], 1):.2f}")
    for memory_run in (m for m in MEMORY_RUNS if m in runs and "none" in runs):
        mem, plain = runs[memory_run]["learning"]["warm"], runs["none"]["learning"]["warm"]
        if goal == "warm" and mem and plain:
            ratio = (mem["tokens_per_solved"] / plain["tokens_per_solved"]
                     if mem["tokens_per_solved"] and plain["tokens_per_solved"] else None)
            print(f"{memory_run}: target warm accuracy >= {WARM_ACCURACY:.0%}: "
                  f"{100 * mem['accuracy']:.1f}% "
                  f"-> {'met' if mem['accuracy'] >= WARM_ACCURACY else 'NOT met'}")
            print(f"{memory_run}: target warm tokens/solved <= 1/5 of none: "
                  + ("no ratio (nothing solved)" if ratio is None else
                     f"{ratio:.2f} -> {'met' if ratio <= TOKEN_RATIO else 'NOT met'}"))
        elif goal == "no-harm":
            drop = (runs["none"]["accuracy"] or 0) - (runs[memory_run]["accuracy"] or 0)
            print(f"{memory_run}: target memory lowers accuracy by <= 2 points: "
                  f"{100 * drop:+.1f} points -> {'met' if drop <= NO_HARM_POINTS else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
