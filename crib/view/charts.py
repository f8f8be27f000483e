"""The viewer's charts, drawn on the server by matplotlib as SVG and shown as images.

Why server-side: the pages then carry no JavaScript at all, so the Content-Security-Policy can
forbid every script, and an SVG shown through <img> cannot run script or load anything either.
"""
from __future__ import annotations

import io
from typing import Any, Sequence

WIDTH, HEIGHT = 6.4, 2.8


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=100)
    fig.set_layout_engine("tight")
    return fig


def _svg(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def learning_curve(points: Sequence[tuple[int, float]], cold: Any, warm: Any) -> bytes:
    """Running accuracy by problem, with the cold and warm parts' accuracy (each a
    `learning_curve.Part` or None) drawn over the problems they cover."""
    fig = _figure()
    ax = fig.add_subplot()
    if points:
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", markersize=3, label="running accuracy")
        for part, name, color, style in ((cold, "cold", "tab:blue", "dotted"),
                                         (warm, "warm", "tab:orange", "dashed")):
            if part is not None and part.accuracy is not None:
                ax.hlines(part.accuracy, part.first, part.last, colors=color, linestyles=style,
                          label=f"{name} {part.accuracy:.2f} (problems {part.first}-{part.last})")
        ax.legend(loc="lower right", fontsize=8)
    _integer_ticks(ax)
    ax.set_xlabel("problem (run order)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    return _svg(fig)


def _integer_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def search_progress(points: Sequence[dict]) -> bytes:
    """Best validation fitness so far and cumulative spend (tokens), by generation."""
    fig = _figure()
    ax = fig.add_subplot()
    gens = [p["generation"] for p in points]
    ax.step(gens, [p["best"] if p["best"] is not None else float("nan") for p in points],
            where="post", marker="o", markersize=3, color="tab:green", label="best validation")
    _integer_ticks(ax)
    ax.set_xlabel("generation")
    ax.set_ylabel("best fitness")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    spent = [p for p in points if p.get("tokens") is not None]
    if spent:
        ax2 = ax.twinx()
        ax2.plot([p["generation"] for p in spent], [p["tokens"] for p in spent],
                 color="tab:purple", linestyle="dashed", marker="s", markersize=3,
                 label="cumulative tokens")
        ax2.set_ylabel("tokens spent")
        ax2.legend(loc="lower right", fontsize=8)
    ax.legend(loc="upper left", fontsize=8)
    return _svg(fig)
