"""Accuracy of agents and loops on Game of 24 with the embedded model (default: the 1.5B).

Runs `crib solve` once per configuration on the same puzzles (../shared/data/game24_dc100.jsonl
when present, else generated ones) and prints accuracy with its 95% interval, calls, tokens and
time side by side. It is slow on a CPU (minutes per configuration): use --limit.

Usage: python bench/accuracy_game24.py --limit 10 [--configs cot:single,program-of-thought:retry]
       [--base-url http://127.0.0.1:PORT/v1]   (reuse a running `crib model serve`)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "game24_dc100.jsonl"


def served_model(base_url: str) -> str:
    with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=30) as r:
        return json.load(r)["data"][0]["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--configs", default="cot:single,program-of-thought:single,"
                                             "program-of-thought:retry")
    parser.add_argument("--memory", default="none", help="memory mode for every configuration")
    parser.add_argument("--model", default=None, help="local model (default: config local_model)")
    parser.add_argument("--base-url", default=None,
                        help="an already running OpenAI-compatible server (default: the embedded "
                             "one, started by each `crib solve`)")
    args = parser.parse_args()
    env = dict(os.environ)
    env.pop("OPENAI_BASE_URL", None)
    if args.model:
        env["CRIB_LOCAL_MODEL"] = args.model
    if args.base_url:
        env["OPENAI_BASE_URL"] = args.base_url
        env["CRIB_LLM__MODEL"] = served_model(args.base_url)
    source = [str(DATA)] if DATA.is_file() else []
    print(f"puzzles: {DATA if source else 'generated (seed 0)'}  limit {args.limit}  "
          f"memory {args.memory}")
    print(f"{'agent':22} {'loop':8} {'acc':>6} {'95% CI':>13} {'calls':>6} {'tok out':>8} "
          f"{'time s':>8}")
    for config in args.configs.split(","):
        agent, loop = config.split(":")
        cmd = [sys.executable, "-m", "crib", "solve", *source, "--domain", "game24",
               "--limit", str(args.limit),
               "--agent", agent, "--loop", loop, "--memory", args.memory, "--concurrency", "1",
               "--scope", f"bench-{agent}-{loop}", "--json"]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode not in (0, 1):  # 1: the run finished but solved nothing
            print(f"{agent:22} {loop:8} failed: {r.stderr.strip().splitlines()[-1:]}")
            continue
        s = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"{agent:22} {loop:8} {s['accuracy']:6.2f} {s['ci_low']:6.2f}–{s['ci_high']:<6.2f} "
              f"{s['calls']:6d} {s['tokens_out']:8d} {s['wall_s']:8.1f}")


if __name__ == "__main__":
    main()
