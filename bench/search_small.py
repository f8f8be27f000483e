"""Agent search a small designer can drive: the building-block space with the embedded model as
designer and solver, against the best seed agent on held-out test problems, in one run.

For each domain: `crib search --space blocks --memory none --demos 24` (seeded splits;
validation, test and the training problems demonstrations come from are disjoint), then
`crib search test RUN --top 1`, which scores the agent selected on validation, the best seed
(by validation) and that seed with the best-of-n loop at the selected agent's tokens per
problem, on the same test problems. Prints, per generation, the proposals, how many
passed the smoke run, unusable designer replies, the best validation fitness and tokens; then
test accuracy of both, the difference with its paired 95% bootstrap interval, the break-even
point, the difference against the compute-matched seed, and whether the issue's targets are met
(Game of 24: +15 points, equation balancer: +10 points, at least half of the proposals passing
the smoke run; the targets are against the best seed as given).

The full target (10 generations, validation 16, test 50, the 1.5B model) takes many hours on a
2-core CPU. A smoke-sized run:

    .venv/bin/python bench/search_small.py --model qwen2.5-coder-0.5b --domains game24 \\
        --generations 2 --val-size 4 --test-size 6 --seeds cot,program-of-thought
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.accuracy_game24 import served_model  # noqa: E402

TARGETS = {"game24": 0.15, "equation-balancer": 0.10}  # test accuracy over the best seed
SMOKE_TARGET = 0.5


def crib(args: list[str], env: dict) -> dict | list[dict]:
    """Run crib with --json; the JSON lines it printed (stderr goes through, for progress)."""
    r = subprocess.run([sys.executable, "-m", "crib", *args, "--json"], env=env, text=True,
                       stdout=subprocess.PIPE, cwd=ROOT)
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    if r.returncode not in (0, 1) or not lines:
        raise SystemExit(f"crib {' '.join(args[:2])} failed (exit {r.returncode})")
    return lines


def one_domain(domain: str, args, env: dict, db: str) -> bool:
    started = time.perf_counter()
    search = ["search", "--db", db, "--space", "blocks", "--domain", domain, "--memory", "none",
              "--generations", str(args.generations), "--val-size", str(args.val_size),
              "--test-size", str(args.test_size), "--seed", str(args.seed),
              "--smoke", str(args.smoke), "--minibatch", str(args.minibatch),
              "--concurrency", str(args.concurrency)]
    if args.seeds:
        search += ["--seeds", args.seeds]
    if args.budget_tokens:
        search += ["--budget-tokens", str(args.budget_tokens)]
    search += ["--demos", str(args.demos), "--demo-samples", str(args.demo_samples)]
    result = crib(search, env)[-1]
    search_s = time.perf_counter() - started
    print(f"\n== {domain}: run {result['run_id']} {result['status']}"
          f"{' (' + result['stop_reason'] + ')' if result.get('stop_reason') else ''}; "
          f"search {search_s:.0f} s")
    print(f"{'gen':>4} {'proposals':>9} {'smoke ok':>8} {'unusable':>8} {'best val':>8} "
          f"{'tokens':>8}")
    for r in result["generations"]:
        best = "-" if r["best_validation"] is None else f"{r['best_validation']:.3f}"
        print(f"{r['generation']:>4} {r['proposals']:>9} {r['passed_smoke']:>8} "
              f"{r['unusable_replies']:>8} {best:>8} {r['tokens'] or 0:>8}")
    proposals = sum(r["proposals"] for r in result["generations"])
    passed = sum(r["passed_smoke"] for r in result["generations"])
    share = passed / proposals if proposals else 0.0
    print(f"proposals passing the smoke run: {passed}/{proposals} ({share:.0%}); "
          f"spend: {result['spend'].get('tokens_in', 0)} tokens in, "
          f"{result['spend'].get('tokens_out', 0)} out")
    if args.demos:
        print(f"demonstrations: {result.get('demonstrations', 0)} from up to {args.demos} "
              f"training problems (best-of-{args.demo_samples})")
    started = time.perf_counter()
    rows = crib(["search", "test", result["run_id"], "--db", db, "--top", "1"], env)
    comparison = next((r["comparison"] for r in rows if "comparison" in r), None)
    if comparison is None:
        print("no comparison: the selected agent or the best seed has no test scores")
        return False
    c = comparison
    print(f"test ({c['n']} problems, {time.perf_counter() - started:.0f} s): selected "
          f"{c['selected']} {c['selected_accuracy']:.3f} vs best seed {c['seed']} "
          f"{c['seed_accuracy']:.3f}; difference {c['difference']:+.3f} "
          f"[{c['diff_low']:+.3f}, {c['diff_high']:+.3f}] (paired 95% bootstrap)")
    print(f"tokens per test problem: selected {c['selected_tokens_per_problem']:.0f}, seed "
          f"{c['seed_tokens_per_problem']:.0f}; search tokens {c['search_tokens']}")
    if c["break_even_problems"] is not None:
        print(f"break-even after {c['break_even_problems']:.0f} problems "
              f"(~{c['break_even_solved']:.0f} more solved than the seed)")
    if c["note"]:
        print(c["note"])
    m = c.get("matched")
    if m:
        print(f"against the best seed given the same compute, {m['agent']} (best-of-n, n="
              f"{m['samples']}): {m['selected_accuracy']:.3f} vs {m['accuracy']:.3f}; difference "
              f"{m['difference']:+.3f} [{m['diff_low']:+.3f}, {m['diff_high']:+.3f}]"
              f"{'; ' + m['note'] if m['note'] else ''}")
    elif c.get("matched_note"):
        print(c["matched_note"])
    target = TARGETS.get(domain)
    met = (target is None or c["difference"] >= target) and share >= SMOKE_TARGET
    print(f"targets: difference >= {target if target is not None else '-'} and smoke share >= "
          f"{SMOKE_TARGET}: {'met' if met else 'NOT met'}")
    return met


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domains", default="game24,equation-balancer")
    ap.add_argument("--model", default=None, help="local model (default: config local_model)")
    ap.add_argument("--base-url", default=None, help="an already running OpenAI-compatible "
                    "server (default: the embedded one, started by each crib command)")
    ap.add_argument("--generations", type=int, default=10)
    ap.add_argument("--val-size", type=int, default=16)
    ap.add_argument("--test-size", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", default=None, help="skeletons to seed with (default: all)")
    ap.add_argument("--smoke", type=int, default=2)
    ap.add_argument("--minibatch", type=int, default=8)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--budget-tokens", type=int, default=None)
    ap.add_argument("--demos", type=int, default=24, help="training problems the best seed "
                    "solves for demonstrations (crib search --demos; 0: none)")
    ap.add_argument("--demo-samples", type=int, default=4,
                    help="tries per training problem (crib search --demo-samples)")
    ap.add_argument("--solver-max-tokens", type=int, default=None,
                    help="cap the solver's replies (default: the configured max_tokens)")
    ap.add_argument("--threads", type=int, default=None, help="the embedded model's CPU "
                    "threads (default: every core but one)")
    ap.add_argument("--db", default=None, help="keep the runs and the LLM cache in this "
                    "database (default: a fresh SQLite file in a temporary directory)")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRIB_", "OPENAI_"))}
    if args.model:
        env["CRIB_LOCAL_MODEL"] = args.model
    if args.threads:
        env["CRIB_LOCAL_THREADS"] = str(args.threads)
    if args.solver_max_tokens:
        env["CRIB_SOLVER__MAX_TOKENS"] = str(args.solver_max_tokens)
    if args.base_url:
        env["OPENAI_BASE_URL"] = args.base_url
        env["CRIB_LLM__MODEL"] = served_model(args.base_url)
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or f"sqlite:///{Path(tmp) / 'search_small.db'}"
        print(f"model {args.model or 'config default'}; generations {args.generations}, "
              f"validation {args.val_size}, test {args.test_size}, seed {args.seed}, "
              f"seeds {args.seeds or 'all skeletons'}, memory none, solver max_tokens "
              f"{args.solver_max_tokens or 'configured'}")
        results = [one_domain(d, args, env, db) for d in args.domains.split(",")]
    print(f"\nall targets met: {all(results)}")


if __name__ == "__main__":
    main()
