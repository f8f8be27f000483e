"""A PNG of a search: best validation fitness (and each candidate's) and cumulative spend per
generation. matplotlib with the Agg backend (no display needed)."""
from __future__ import annotations

from pathlib import Path

from crib.meta_search.archive import Archive


def series(archive: Archive) -> dict:
    """Per generation: the best validation median so far, candidates' medians, spend."""
    entries = archive.entries()
    gens = sorted({e.generation for e in entries})
    best, running, points = [], None, []
    for g in gens:
        for e in entries:
            if e.generation == g and e.val is not None:
                points.append((g, e.val.median))
                running = e.val.median if running is None else max(running, e.val.median)
        best.append(running)
    run = archive.run()
    spent = (run.spend if run is not None else None) or {}
    history = {h["generation"]: h for h in spent.get("history", [])}
    spend = [(g, history[g]["cost_usd"], history[g]["tokens"]) for g in sorted(history)]
    return {"generations": gens, "best": best, "points": points, "spend": spend}


def plot_run(archive: Archive, path: str | Path) -> Path:
    import matplotlib  # optional (crib[plot]) and heavy

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = series(archive)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    if s["points"]:
        ax1.scatter(*zip(*s["points"]), s=14, alpha=0.5, label="candidate (validation)")
    ax1.step(s["generations"], [b if b is not None else float("nan") for b in s["best"]],
             where="post", color="C1", label="best so far")
    ax1.set_ylabel("validation fitness (median)")
    ax1.set_title(f"crib search {archive.run_id}")
    ax1.legend(loc="lower right")
    if s["spend"]:
        g, cost, tokens = zip(*s["spend"])
        ax2.plot(g, tokens, marker="o", label="tokens")
        ax2.set_ylabel("tokens (cumulative)")
        ax3 = ax2.twinx()
        ax3.plot(g, cost, marker="s", color="C2", label="USD")
        ax3.set_ylabel("USD (cumulative)")
    ax2.set_xlabel("generation (0 = seed library)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
