"""The embedded llama.cpp server's speed under its settings, on a quiet or a loaded CPU.

    python bench/local_model_settings.py [--model qwen2.5-coder-0.5b] [--calls 3]
        [--max-tokens 96] [--burn 0,1,2] [--settings 1:0,2:0,2:50] [--parallel 1]
        [--batch 0] [--json]

For each setting (`THREADS:GEN_THREADS:POLL`: threads for prompt processing, threads for
generation, llama.cpp's busy-wait level 0..100) and each load level
(`--burn N`: N busy-looping processes, as other jobs on a shared machine would be), it starts
the server, sends `--calls` identical chat completions one after the other (with
`--parallel 2`, two at a time) and prints llama.cpp's own timings: generation and prompt
tokens per second (median over the calls), and the wall time of a call. The load average
before each setting is printed too: on a shared machine every figure moves with it, so
compare settings measured in the same run only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crib.agents.llm import local_model  # noqa: E402
from crib.agents.llm.local_server import LocalServer  # noqa: E402

PROMPT = [
    {"role": "system", "content": "You are a careful assistant. Think step by step."},
    {"role": "user", "content": "Use the numbers 3 3 8 8 with + - * / and parentheses to make 24. "
     "Each number exactly once. Explain your search briefly, then give the expression on a "
     "last line starting with 'Answer:'."},
]


def _burn(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


_calls = iter(range(1, 1 << 30))


async def _call(session, url: str, max_tokens: int) -> dict:
    # A new first line each call: llama.cpp reuses a slot's cached prompt prefix, and an
    # identical prompt would time only its last few tokens.
    messages = [{"role": "system", "content": f"Request {next(_calls)}. {PROMPT[0]['content']}"},
                *PROMPT[1:]]
    body = {"model": "local", "messages": messages, "max_tokens": max_tokens, "temperature": 0,
            "seed": 1, "stream": False}
    started = time.monotonic()
    async with session.post(url + "/chat/completions", json=body) as reply:
        data = await reply.json()
    wall = time.monotonic() - started
    timings = data.get("timings") or {}
    out = (data.get("usage") or {}).get("completion_tokens") or 0
    return {"wall_s": wall, "gen_tps": timings.get("predicted_per_second") or out / wall,
            "prompt_tps": timings.get("prompt_per_second"), "tokens_out": out,
            "prompt_n": timings.get("prompt_n")}


async def measure(url: str, calls: int, parallel: int, max_tokens: int) -> list[dict]:
    import aiohttp

    results = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as session:
        for _ in range(calls):
            wave = await asyncio.gather(*(_call(session, url, max_tokens) for _ in range(parallel)))
            results.extend(wave)
    return results


def run_setting(path: Path, threads: int, gen_threads: int, poll: int, parallel: int,
                batch: int | None, burn: int, args) -> dict:
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True)
               for _ in range(burn)]
    load = os.getloadavg()[0]
    with LocalServer(path, ctx=2048, threads=threads, gen_threads=gen_threads, poll=poll,
                     parallel=parallel, batch=batch, alias="local") as server:
        for b in burners:
            b.start()
        try:
            calls = asyncio.run(measure(server.base_url, args.calls, parallel, args.max_tokens))
        finally:
            stop.set()
            for b in burners:
                b.join()
    med = statistics.median
    prompt = [c["prompt_tps"] for c in calls if c["prompt_tps"]]
    return {"threads": threads, "gen_threads": gen_threads, "poll": poll, "parallel": parallel,
            "batch": batch,
            "burners": burn, "load_before": round(load, 2), "calls": len(calls),
            "gen_tok_s": round(med(c["gen_tps"] for c in calls), 2),
            "gen_tok_s_min": round(min(c["gen_tps"] for c in calls), 2),
            "prompt_tok_s": round(med(prompt), 1) if prompt else None,
            "wall_s_p50": round(med(c["wall_s"] for c in calls), 2),
            "aggregate_tok_s": round(sum(c["tokens_out"] for c in calls)
                                     / sum(c["wall_s"] for c in calls) * parallel, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--burn", default="0,1", help="busy processes during the calls, per level")
    ap.add_argument("--settings", default="1:1:0,2:1:0,2:2:0,2:2:50",
                    help="THREADS:GEN_THREADS:POLL, comma-separated")
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--batch", type=int, default=0, help="n_batch = n_ubatch (0: llama.cpp's)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    path = local_model.ensure(args.model)
    rows = []
    for burn in (int(b) for b in args.burn.split(",")):
        for setting in args.settings.split(","):
            threads, gen_threads, poll = (int(x) for x in setting.split(":"))
            row = run_setting(path, threads, gen_threads, poll, args.parallel,
                              args.batch or None, burn, args)
            rows.append(row)
            if not args.json:
                print(f"burners {burn}  load {row['load_before']:5.2f}  threads {threads}"
                      f"  gen_threads {gen_threads}"
                      f"  poll {poll:3d}  parallel {args.parallel}  gen {row['gen_tok_s']:6.2f}"
                      f" tok/s (min {row['gen_tok_s_min']:6.2f})  prompt {row['prompt_tok_s']}"
                      f" tok/s  call p50 {row['wall_s_p50']:6.2f} s  all calls"
                      f" {row['aggregate_tok_s']:6.2f} tok/s", flush=True)
    if args.json:
        print(json.dumps({"model": args.model, "cpus": os.cpu_count(), "rows": rows}))


if __name__ == "__main__":
    main()
