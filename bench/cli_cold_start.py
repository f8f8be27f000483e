"""Cold start of `crib --help` against a bare `python -c pass` measured in the same run.

Also checks that --help does not import the heavy libraries (langchain, chromadb, torch,
sqlalchemy, openai). Target: `crib --help` ≤ 0.3 s.

Usage: python bench/cli_cold_start.py [--runs 20]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

HEAVY = ("langchain", "langchain_openai", "chromadb", "torch", "sqlalchemy", "openai", "numpy")


def timed(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    py = sys.executable
    base = timed([py, "-c", "pass"], args.runs)
    crib = timed([py, "-m", "crib", "--help"], args.runs)
    probe = (
        "import sys; sys.argv=['crib','--help']\n"
        "from crib.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([py, "-c", probe], capture_output=True, text=True).stdout
    heavy = out.rsplit("HEAVY=", 1)[-1].strip()
    p50_base, p50_crib = statistics.median(base), statistics.median(crib)
    print(f"python -c pass   p50 {p50_base * 1000:7.1f} ms")
    p90_crib = sorted(crib)[int(0.9 * len(crib)) - 1]
    print(f"crib --help      p50 {p50_crib * 1000:7.1f} ms   p90 {p90_crib * 1000:7.1f} ms")
    verdict = "OK" if p50_crib <= 0.3 else "MISSED"
    print(f"ratio crib/python: {p50_crib / p50_base:.2f}x   target p50 <= 300 ms: {verdict}")
    print(f"heavy modules imported by --help: {heavy or 'none'}")


if __name__ == "__main__":
    main()
