"""Search cost: evaluation LLM calls per generation with the cascade vs full validation for
every candidate, over the same candidates, on the scripted server with the real sandbox.

The scripted meta-agent proposes the same agents in both runs; each agent has a designed
accuracy (`skill=NN`: the scripted solver answers right when a stable hash falls under NN).
Prints calls per generation, the ratio, and the agent each run selects on validation.

    .venv/bin/python bench/search_cost.py [--val-size 48] [--minibatch 12] [--generations 8]
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from crib.storage import open_database  # noqa: E402
from crib.meta_search.archive import Archive  # noqa: E402
from crib.meta_search.records import ArchiveEntryRow, EvaluationRow  # noqa: E402
from tests.meta_search.helpers import Script, agent, proposal, run_search, search_config  # noqa: E402
from tests.scripted_server import ScriptedServer  # noqa: E402

SKILLS = [20, 60, 10, 85, 30, 5, 50, 15, 40, 25]


def calls_by_generation(engine, run_id: str) -> dict[int, int]:
    with Session(engine) as s:
        rows = s.execute(select(ArchiveEntryRow.generation, func.sum(EvaluationRow.calls))
                         .join(EvaluationRow, EvaluationRow.entry_id == ArchiveEntryRow.id)
                         .where(ArchiveEntryRow.run_id == run_id)
                         .group_by(ArchiveEntryRow.generation)).all()
    return {g: int(n or 0) for g, n in rows}


async def one(url: str, db: Path, promotion: str, args) -> tuple[dict, str, float, float]:
    engine = open_database(f"sqlite:///{db}")
    config = search_config(generations=args.generations, val_size=args.val_size,
                           cascade={"minibatch": args.minibatch, "promotion": promotion,
                                    "zero_is_failure": False, "n_resamples": 2000})
    started = time.perf_counter()
    _, result = await run_search(engine, url, "bench", config)
    wall = time.perf_counter() - started
    best = Archive(engine, "bench").best()
    return calls_by_generation(engine, "bench"), f"{best.name} ({best.val.median:.3f})", wall, \
        result.spend["by_role"].get("solver", {}).get("calls", 0)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--val-size", type=int, default=80)
    ap.add_argument("--minibatch", type=int, default=10)
    ap.add_argument("--generations", type=int, default=20)
    args = ap.parse_args()
    skills = (SKILLS * 3)[: args.generations]
    with ScriptedServer() as srv, tempfile.TemporaryDirectory() as tmp:
        srv.script(Script(proposals={
            g + 1: proposal(f"g{g + 1}-skill{s}", agent(s, f"g{g + 1}-skill{s}"))
            for g, s in enumerate(skills)}))
        cascade, best_c, wall_c, solver_c = await one(srv.url, Path(tmp) / "c.db", "ucb", args)
        full, best_f, wall_f, solver_f = await one(srv.url, Path(tmp) / "f.db", "all", args)
    print(f"candidates (skill by generation): {skills}; validation {args.val_size}, "
          f"minibatch {args.minibatch}, smoke 2; seed agent: cot")
    print(f"{'gen':>4} {'cascade calls':>14} {'full-val calls':>15}")
    for g in sorted(set(cascade) | set(full)):
        print(f"{g:>4} {cascade.get(g, 0):>14} {full.get(g, 0):>15}")
    gc = sum(v for g, v in cascade.items() if g > 0)
    gf = sum(v for g, v in full.items() if g > 0)
    print(f"evaluation calls over generations 1..{args.generations}: cascade {gc}, full {gf}, "
          f"{gf / max(gc, 1):.2f}x fewer with the cascade "
          f"({gc / args.generations:.1f} vs {gf / args.generations:.1f} per generation)")
    print(f"solver calls in the ledger (incl. seeds; the table above sums calls per entry, "
          f"smoke included): cascade {solver_c}, full {solver_f}; "
          f"{(solver_f - full.get(0, 0)) / max(solver_c - cascade.get(0, 0), 1):.2f}x fewer "
          f"excluding the seed")
    print(f"selected on validation: cascade {best_c}; full {best_f}; "
          f"same agent: {best_c.split()[0] == best_f.split()[0]}")
    print(f"wall: cascade {wall_c:.1f} s, full {wall_f:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
