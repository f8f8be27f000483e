"""Curator output tokens: operation-based curation vs Dynamic Cheatsheet's full rewrite.

Both curators see the same problems, the same answers and the same verdicts (one solver call
per problem, shared), and each keeps its own sheet: the operations curator a Crib memory store
(temporary SQLite), the rewrite curator one string it rewrites in full after every problem, as
in the DC reference code. Printed per problem and in total: completion tokens of each curator
(as the endpoint reports them), their ratio (target <= 0.3), sheet sizes, and how many rewritten
sheets hold placeholders such as "[previous content preserved]" (content DC would lose).

Needs an OpenAI-compatible endpoint, e.g. the embedded llama.cpp server:
  python bench/curation_tokens.py --base-url http://127.0.0.1:8080/v1 --problems 20
"""
from __future__ import annotations

import argparse
import ast
import asyncio
import itertools
import os
import random
import re
import tempfile
from fractions import Fraction

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["ANONYMIZED_TELEMETRY"] = "False"

REWRITE_SYSTEM = """\
You maintain a cheatsheet of reusable strategies, code snippets and insights for solving \
problems of this kind (Dynamic Cheatsheet). After each problem you output the complete, updated \
cheatsheet: keep everything still useful from the previous version, add what the latest \
problem taught, and remove what is wrong. Output the full cheatsheet between <cheatsheet> and \
</cheatsheet>."""

# Both curators start from the same sheet (a realistic Game of 24 cheatsheet), so the rewrite
# curator has real content to carry forward, as it would after some problems.
START_SHEET = [
    ("strategy", "Search pairs exhaustively",
     "Pick any two numbers, replace them by a+b, a-b, b-a, a*b, a/b or b/a, and recurse on the "
     "three numbers left; stop when one number remains and check it equals 24. There are at most "
     "4*3/2*6 choices at the first level, so the whole search is tiny."),
    ("code", "Exact Game of 24 solver in Python",
     "from fractions import Fraction\nfrom itertools import combinations\n\n"
     "def solve(nums):\n    items = [(Fraction(n), str(n)) for n in nums]\n"
     "    return _rec(items)\n\n"
     "def _rec(items):\n    if len(items) == 1:\n"
     "        return items[0][1] if items[0][0] == 24 else None\n"
     "    for i, j in combinations(range(len(items)), 2):\n"
     "        (a, ea), (b, eb) = items[i], items[j]\n"
     "        rest = [items[k] for k in range(len(items)) if k not in (i, j)]\n"
     "        options = [(a + b, f'({ea}+{eb})'), (a - b, f'({ea}-{eb})'), "
     "(b - a, f'({eb}-{ea})'),\n"
     "                   (a * b, f'({ea}*{eb})')]\n"
     "        if b: options.append((a / b, f'({ea}/{eb})'))\n"
     "        if a: options.append((b / a, f'({eb}/{ea})'))\n"
     "        for value, expr in options:\n            found = _rec(rest + [(value, expr)])\n"
     "            if found:\n                return found\n    return None"),
    ("pitfall", "Floating point division",
     "8/(3-8/3) is exactly 24 but floats give 23.999999999999996. Compare with Fraction or round "
     "to 1e-9."),
    ("pitfall", "Use each number exactly once",
     "Check the final expression uses every given number exactly once, no more, no fewer, and no "
     "other constants (no 2 to square, no concatenation like 1 and 2 into 12)."),
    ("strategy", "Common targets",
     "Aim for 3*8, 4*6, 2*12, 48/2 or 72/3: make one factor from two numbers and the other from "
     "the rest."),
    ("fact", "Answer format",
     "Reply with the expression alone on the last line, e.g. (8-4)*(7-1)."),
]

SOLVER = ("Use the numbers {nums} exactly once each with + - * / and parentheses to make 24. "
          "Reply with the expression only on the last line.")


def game24_problems(n: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        nums = sorted(rng.randint(1, 13) for _ in range(4))
        if solvable(nums):
            out.append(nums)
    return out


def solvable(nums: list[int]) -> bool:
    def rec(vals: list[Fraction]) -> bool:
        if len(vals) == 1:
            return vals[0] == 24
        for i, j in itertools.permutations(range(len(vals)), 2):
            rest = [v for k, v in enumerate(vals) if k not in (i, j)]
            a, b = vals[i], vals[j]
            for r in (a + b, a - b, a * b) + ((a / b,) if b else ()):
                if rec(rest + [r]):
                    return True
        return False
    return rec([Fraction(x) for x in nums])


def check(nums: list[int], text: str) -> bool:
    """True when the last expression-looking line uses exactly `nums` and equals 24."""
    lines = [ln.strip().strip("`$ ") for ln in text.strip().splitlines() if re.search(r"\d", ln)]
    if not lines:
        return False
    expr = lines[-1].split("=")[0].replace("×", "*").replace("÷", "/")
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return False
    used = sorted(int(n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant))
    if used != sorted(nums) or any(isinstance(n, (ast.Call, ast.Name, ast.Attribute))
                                   for n in ast.walk(tree)):
        return False

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return Fraction(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            return {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                    ast.Div: lambda: a / b}[type(node.op)]()
        raise ValueError(node)
    try:
        return ev(tree) == 24
    except (ValueError, ZeroDivisionError, KeyError):
        return False


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", required=True, help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1")
    ap.add_argument("--model", default=None,
                    help="Model name (default: the first the endpoint lists).")
    ap.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "not-needed"))
    ap.add_argument("--problems", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-tokens", type=int, default=1024)
    ap.add_argument("--empty-start", action="store_true",
                    help="Start both curators from an empty sheet.")
    args = ap.parse_args()

    from openai import AsyncOpenAI

    from crib.storage import open_database
    from crib.memory.modes import MemorySession
    from crib.memory.ops import find_placeholder
    from crib.memory.render import render_sheet
    from crib.memory.tokens import count_tokens
    from crib.memory.store import MemoryStore

    client = AsyncOpenAI(base_url=args.base_url, api_key=args.api_key)
    model = args.model or (await client.models.list()).data[0].id
    usage = {"ops": [], "rewrite": []}
    capped = {"ops": 0, "rewrite": 0}  # replies cut at --max-tokens (their cost is a lower bound)

    async def ask(messages, who=None) -> str:
        r = await client.chat.completions.create(model=model, messages=messages, temperature=0,
                                                 max_tokens=args.max_tokens, seed=args.seed)
        if who:
            usage[who].append(r.usage.completion_tokens if r.usage else 0)
            capped[who] += r.choices[0].finish_reason == "length"
        return r.choices[0].message.content or ""

    with tempfile.TemporaryDirectory(prefix="crib-bench-curation-") as tmp:
        store = MemoryStore(open_database(f"sqlite:///{tmp}/m.db"))
        session = MemorySession(store, "dc-cu", "bench", complete=lambda m: ask(m, "ops"),
                                gating=False)
        sheet = "(empty)"
        print(f"model {model} at {args.base_url}; {args.problems} Game of 24 problems, "
              f"seed {args.seed}")
        if not args.empty_start:
            for kind, title, body in START_SHEET:
                store.add("bench", title, body, kind=kind)
            sheet = render_sheet(store.entries("bench"), None, 10**9, count_tokens).text
        print(f"starting sheet: {len(store.entries('bench'))} entries, {count_tokens(sheet)} "
              f"tokens (both curators)")
        placeholders = malformed = 0
        print(f"{'#':>3} {'nums':<14} {'ok':<3} {'ops_tok':>7} {'rewrite_tok':>11} "
              f"{'entries':>7} {'sheet_chars':>11}")
        for i, nums in enumerate(game24_problems(args.problems, args.seed), 1):
            ops_before = sum(usage["ops"])
            ctx = await session.prepare(" ".join(map(str, nums)))
            answer = await ask([{"role": "user",
                                 "content": ctx.text + "\n\n" + SOLVER.format(nums=nums)}])
            ok = check(nums, answer)
            problem = SOLVER.format(nums=nums)
            result = await session.after(problem, answer, ok, problem_id=str(i), context=ctx)
            malformed += result.status == "malformed"
            verdict = "PASSED verification" if ok else "FAILED verification"
            request = (f"## Previous cheatsheet\n{sheet}\n\n## Problem\n{problem}\n\n"
                       f"## Answer given\n{answer}\n\n## Verification\n{verdict}\n\n"
                       "Output the full updated cheatsheet.")
            rewritten = await ask([{"role": "system", "content": REWRITE_SYSTEM},
                                   {"role": "user", "content": request}], "rewrite")
            m = re.search(r"<cheatsheet>(.*?)(</cheatsheet>|$)", rewritten, re.DOTALL)
            sheet = (m.group(1) if m else rewritten).strip() or sheet
            placeholders += find_placeholder(sheet) is not None
            print(f"{i:>3} {str(nums):<14} {'y' if ok else 'n':<3} "
                  f"{sum(usage['ops']) - ops_before:>7} {usage['rewrite'][-1]:>11} "
                  f"{len(store.entries('bench', 'active')):>7} {len(sheet):>11}")
        ops_total, rw_total = sum(usage["ops"]), sum(usage["rewrite"])
        print(f"total curator output tokens: operations {ops_total}, full rewrite {rw_total}, "
              f"ratio {ops_total / max(rw_total, 1):.3f} (target <= 0.3)")
        print(f"replies cut at --max-tokens {args.max_tokens}: operations {capped['ops']}, "
              f"rewrite {capped['rewrite']}")
        print(f"per problem: operations {ops_total / args.problems:.1f}, "
              f"rewrite {rw_total / args.problems:.1f}")
        active = store.entries('bench', 'active')
        print(f"operations curator: {malformed} malformed replies; final sheet {len(active)} "
              f"active entries, {sum(len(e.body) for e in active)} chars")
        print(f"rewrite curator: {placeholders} of {args.problems} rewritten sheets held "
              f"placeholder text; final sheet {len(sheet)} chars")


if __name__ == "__main__":
    asyncio.run(main())
