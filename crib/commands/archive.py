"""`crib archive`: look at, compare, export, import and plot search archives."""
from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)


def _engine(db: str | None):
    from crib.cliutil import config_or_fail
    from crib.storage import open_database

    cfg = config_or_fail({"db_url": db} if db else {})[0]
    return open_database(cfg.database_url), cfg.database_url


def _entry(engine, entry_id: int, where: str):
    from crib.cliutil import fail
    from crib.meta_search.archive import Archive
    from crib.meta_search.records import ArchiveEntryRow
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        row = s.get(ArchiveEntryRow, entry_id)
        if row is None:
            fail(f"no archive entry #{entry_id} in {where}")
        run_id = row.run_id
    return Archive(engine, run_id).entry(entry_id)


def _runs(engine) -> list:
    from crib.meta_search.records import SearchRunRow
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        return list(s.scalars(select(SearchRunRow).order_by(SearchRunRow.created_at)))


@app.command("list")
def list_cmd(
    run: str = typer.Argument(None, help="Search run id (default: the newest run)."),
    all_runs: bool = typer.Option(False, "--runs", help="List the search runs instead."),
    db: str = typer.Option(None, "--db", help="Database URL."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """List a search run's archive, best validation score first.

    Example: crib archive list search-20260101-120000-abc123 --json
    """
    from crib.cliutil import console, esc, fail, print_json
    from crib.meta_search.archive import Archive

    engine, where = _engine(db)
    runs = _runs(engine)
    if all_runs:
        for r in runs:
            row = {"run_id": r.id, "domain": r.domain, "strategy": r.strategy, "status": r.status,
                   "generations_done": r.next_generation - 1, "created_at": str(r.created_at)}
            print_json(row) if json_out else console().print(
                f"{r.id}  {r.domain}  {r.strategy}  {r.status}  gen {r.next_generation - 1}",
                markup=False, highlight=False)
        return
    if run is None:
        if not runs:
            fail(f"no search runs in {where}")
        run = runs[-1].id
    archive = Archive(engine, run)
    entries = archive.entries()
    if not entries and archive.run() is None:
        fail(f"no search run {run!r} in {where}")
    best = archive.best()
    order = {e.id: i for i, e in enumerate(archive.leaderboard())}
    entries.sort(key=lambda e: (order.get(e.id, 10**9), e.id))
    if json_out:
        for e in entries:
            print_json({**_summary(e), "selected": best is not None and e.id == best.id})
        return
    from rich.table import Table

    t = Table(title=esc(f"archive of {run} (selection uses validation only)"))
    for col in ("#", "name", "gen", "origin", "status", "val median [95% CI] n", "test", "reason"):
        t.add_column(col)
    for e in entries:  # names and reasons come from models: escaped, never read as markup
        v, te = e.val, e.fitness.get("test")
        cells = (str(e.id) + (" *" if best and e.id == best.id else ""), e.name[:32],
                 e.generation, e.origin, e.status,
                 f"{v.median:.3f} [{v.ci_low:.3f}, {v.ci_high:.3f}] {v.n}" if v else "-",
                 f"{te.median:.3f}" if te else "-",
                 "" if e.status == "evaluated" else (e.reason or "")[:60])
        t.add_row(*[esc(c) for c in cells])
    console().print(t)
    if best:
        console().print(f"* selected on validation: #{best.id} {best.name}", markup=False,
                        highlight=False)


def _summary(e) -> dict:
    return {"id": e.id, "run_id": e.run_id, "name": e.name, "generation": e.generation,
            "origin": e.origin, "status": e.status, "stage": e.stage, "reason": e.reason,
            "parents": e.parents, "duplicate_of": e.duplicate_of, "code_hash": e.code_hash,
            "cost_usd": e.cost_usd, "tokens": e.tokens,
            "fitness": {k: f.model_dump() for k, f in e.fitness.items()}}


@app.command("show")
def show_cmd(
    entry_id: int = typer.Argument(..., help="Archive entry id."),
    db: str = typer.Option(None, "--db", help="Database URL."),
    json_out: bool = typer.Option(False, "--json", help="Print the entry as JSON."),
) -> None:
    """Show one archive entry: thought, code, fitness per split, history.

    Example: crib archive show 12
    """
    from crib.cliutil import console, esc, print_json

    engine, where = _engine(db)
    e = _entry(engine, entry_id, where)
    if json_out:
        print_json({**_summary(e), "thought": e.thought, "code": e.code, "history": e.history})
        return
    from rich.syntax import Syntax

    c = console()
    c.print(f"[bold]#{e.id} {esc(e.name)}[/] (run {esc(e.run_id)}, generation {e.generation}, "
            f"{esc(e.origin)}, parents {esc(e.parents or '-')})", highlight=False)
    c.print(f"status: {e.status} at stage {e.stage}; {e.reason or ''}", markup=False,
            highlight=False)
    for split, f in e.fitness.items():
        c.print(f"{split}: median {f.median:.3f} [{f.ci_low:.3f}, {f.ci_high:.3f}] n={f.n} "
                f"(seed {f.seed}, {f.n_resamples} resamples)"
                + (f", cold {f.cold:.3f} -> warm {f.warm:.3f}" if f.cold is not None else ""))
    c.print(f"thought: {e.thought}", markup=False, highlight=False)
    c.print(Syntax(e.code, "python", line_numbers=True))


@app.command("diff")
def diff_cmd(
    first: int = typer.Argument(..., help="Entry id."),
    second: int = typer.Argument(..., help="Entry id."),
    db: str = typer.Option(None, "--db", help="Database URL."),
) -> None:
    """Unified diff of two entries' code, with their scores.

    Example: crib archive diff 3 12
    """
    import difflib

    from crib.cliutil import console

    engine, where = _engine(db)
    a, b = _entry(engine, first, where), _entry(engine, second, where)
    for e in (a, b):
        v = e.val
        console().print(f"#{e.id} {e.name}: {e.status}"
                        + (f", val {v.median:.3f} [{v.ci_low:.3f}, {v.ci_high:.3f}]" if v else ""),
                        markup=False, highlight=False)
    diff = difflib.unified_diff(a.code.splitlines(), b.code.splitlines(),
                                f"#{a.id} {a.name}", f"#{b.id} {b.name}", lineterm="")
    from rich.syntax import Syntax

    console().print(Syntax("\n".join(diff) or "(same code)", "diff"))


@app.command("export")
def export_cmd(
    entry_id: int = typer.Argument(..., help="Entry id."),
    file: Path = typer.Argument(..., help="Where to write the agent (.py)."),
    db: str = typer.Option(None, "--db", help="Database URL."),
) -> None:
    """Write an entry as an agent file that `crib solve --agent FILE.py` runs.

    Example: crib archive export 12 best_agent.py
    """
    from crib.cliutil import console, fail
    from crib.meta_search.adas_import import export_code

    engine, where = _engine(db)
    e = _entry(engine, entry_id, where)
    try:
        file.write_text(export_code(e), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {file}: {exc}")
    console().print(f"wrote #{e.id} {e.name} to {file}; run it with: crib solve --agent {file}",
                    markup=False, highlight=False)


@app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="ADAS archive: a JSON list of {name, thought, code}."),
    domain: str = typer.Option(..., "--domain", help="Domain the agents are for."),
    run: str = typer.Option(None, "--run", help="Add to this search run (default: a new one)."),
    db: str = typer.Option(None, "--db", help="Database URL."),
    json_out: bool = typer.Option(False, "--json", help="Print the new entries as JSON."),
) -> None:
    """Import an ADAS archive as the seeds of a search run (they run unchanged, sandboxed).

    `crib search --resume RUN` then scores them on validation and searches from them.
    Example: crib archive import mgsm_archive.json --domain math-numeric
    """
    from crib.cliutil import console, fail, print_json, warn
    from crib.meta_search.adas_import import ImportError_, import_into, parse_adas_archive
    from crib.meta_search.archive import Archive
    from crib.meta_search.search import SearchConfig, create_run

    from crib.agents.domains import UnknownDomain, get_domain

    try:
        get_domain(domain)
    except UnknownDomain as exc:
        fail(str(exc), 2)
    try:
        agents, skipped = parse_adas_archive(file)
    except ImportError_ as exc:
        fail(str(exc))
    for item in skipped:  # the usable entries are imported; these are said, by index
        warn(f"{file}: item {item.index} skipped: {item.reason}")
    engine, where = _engine(db)
    if run is None:
        from crib.agents.runs import new_run_id

        run = new_run_id("search")
        create_run(engine, run, SearchConfig(domain=domain, seeds=[]),
                   manifest={"imported_from": str(file.resolve())})
    archive = Archive(engine, run)
    if archive.run() is None:
        fail(f"no search run {run!r} in {where}")
    entries = import_into(archive, agents)
    archive.update_run(seeded=1)
    if json_out:
        for e in entries:
            print_json(_summary(e))
        return
    console().print(f"imported {len(entries)} agents into run {run}"
                    + (f" ({len(skipped)} skipped)" if skipped else "")
                    + f"; score them with: crib search --resume {run}", markup=False,
                    highlight=False)


@app.command("plot")
def plot_cmd(
    run: str = typer.Argument(..., help="Search run id."),
    out: Path = typer.Option(None, "--out", help="PNG path (default: RUN.png)."),
    db: str = typer.Option(None, "--db", help="Database URL."),
) -> None:
    """Plot best validation fitness and spend over generations to a PNG.

    Example: crib archive plot search-20260101-120000-abc123 --out search.png
    """
    from crib.cliutil import console, fail
    from crib.meta_search.archive import Archive
    from crib.meta_search.plot import plot_run

    engine, where = _engine(db)
    archive = Archive(engine, run)
    if archive.run() is None:
        fail(f"no search run {run!r} in {where}")
    path = out or Path(f"{run}.png")
    try:
        plot_run(archive, path)
    except OSError as exc:
        fail(f"cannot write {path}: {exc}")
    console().print(f"wrote {path}", markup=False, highlight=False)
