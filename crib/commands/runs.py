"""`crib runs ...`: the space transcripts take, and pruning old ones (agents/transcripts.py).

Top-level imports: typer and the standard library only (heavy modules load inside commands)."""
from __future__ import annotations

import re

import typer

app = typer.Typer(no_args_is_help=True)

DbOpt = typer.Option(None, "--db", help="Database URL (default: SQLite in the data dir).")
JsonOpt = typer.Option(False, "--json", help="Print JSON for machines.")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@app.callback()
def runs() -> None:
    """Runs' transcripts: what each model call, sandbox run and verdict said.

    Example: crib runs stats && crib runs gc --older-than 30d
    """


def parse_age(text: str) -> float:
    """'30d', '12h', '90m', '2w', '45s' -> seconds; ValueError naming the value otherwise."""
    m = _AGE.match(text or "")
    if not m:
        raise ValueError(f"--older-than {text!r}: give a number and a unit, e.g. 30d, 12h, 90m")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def _engine(db: str | None):
    from crib.cliutil import config_or_fail
    from crib.storage import open_database

    cfg, _ = config_or_fail({"db_url": db} if db else None)
    return open_database(cfg.database_url)


@app.command()
def stats(db: str = DbOpt, json_out: bool = JsonOpt) -> None:
    """The space transcripts take: events by kind, distinct texts, characters stored and shared.

    Example: crib runs stats --json
    """
    from crib.agents.transcript_query import transcript_stats
    from crib.cliutil import console, print_json

    engine = _engine(db)
    try:
        s = transcript_stats(engine)
    finally:
        engine.dispose()
    data = {"events": s.events, "events_total": sum(s.events.values()), "texts": s.texts,
            "text_chars": s.text_chars, "referenced_chars": s.referenced_chars,
            "shared_ratio": round(s.shared_ratio, 2), "runs": s.runs,
            "oldest": s.oldest, "newest": s.newest, "database_bytes": s.database_bytes}
    if json_out:
        print_json(data)
        return
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(s.events.items())) or "none"
    lines = [f"transcripts of {s.runs} runs: {sum(s.events.values())} events ({kinds})",
             f"texts: {s.texts} distinct, {s.text_chars:,} characters stored for "
             f"{s.referenced_chars:,} referred to (x{s.shared_ratio:.1f} shared)"]
    if s.oldest:
        lines.append(f"from {str(s.oldest)[:19]} to {str(s.newest)[:19]}")
    if s.database_bytes is not None:
        lines.append(f"database file: {s.database_bytes / 1e6:.1f} MB (all tables)")
    console().print("\n".join(lines), markup=False, highlight=False)


@app.command()
def gc(older_than: str = typer.Option(..., "--older-than", help="Prune events older than this: "
                                      "30d, 12h, 90m."),
       run: str = typer.Option(None, "--run", help="Only this run's events."),
       db: str = DbOpt, json_out: bool = JsonOpt) -> None:
    """Prune old transcripts: events older than --older-than and the texts nothing else uses.
    Runs, attempts, results and the ledger are kept.

    Example: crib runs gc --older-than 30d
    """
    from datetime import datetime, timedelta, timezone

    from crib.agents.transcript_query import prune
    from crib.cliutil import console, fail, print_json

    try:
        age = parse_age(older_than)
    except ValueError as exc:
        fail(str(exc), 2)
    before = datetime.now(timezone.utc) - timedelta(seconds=age)
    engine = _engine(db)
    try:
        done = prune(engine, before, run_id=run)
    finally:
        engine.dispose()
    if json_out:
        print_json({"events": done.events, "texts": done.texts, "before": before})
    else:
        console().print(f"pruned {done.events} transcript events and {done.texts} texts "
                        f"older than {str(before)[:19]} UTC", markup=False, highlight=False)
