"""`crib memory ...`: inspect and edit the cheatsheet memory, its history, and its index.

Top-level imports: typer and the standard library only (heavy modules load inside commands)."""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer

app = typer.Typer(no_args_is_help=True)

ScopeOpt = typer.Option("default", "--scope", "-s", help="Memory scope (e.g. a domain name).")
JsonOpt = typer.Option(False, "--json", help="Print JSON for machines.")


class UsageError(ValueError):
    """Flags that do not go together or a value a flag does not take: exit 2."""


def _errors(fn: Callable) -> Callable:
    """Clear one-line errors and a non-zero exit instead of tracebacks (2: usage, 1: the rest)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from crib.cliutil import fail

        try:
            return fn(*args, **kwargs)
        except UsageError as exc:
            fail(str(exc), 2)
        except KeyError as exc:
            fail(str(exc.args[0]) if exc.args else str(exc))
        except (ValueError, RuntimeError, OSError) as exc:
            fail(str(exc))
    return wrapper


def _store(index: bool = True):
    """The memory store on the configured database (and Chroma when `index`)."""
    from crib.cliutil import config_or_fail
    from crib.storage import open_database
    from crib.memory.store import MemoryStore

    cfg, _ = config_or_fail()
    engine = open_database(cfg.database_url)
    if not index:
        return MemoryStore(engine)
    url = cfg.memory.chroma_url
    return MemoryStore(engine, chroma_dir=None if url else str(cfg.data_dir / "chroma"),
                       chroma_url=url)


def _dump(entry) -> dict:
    return entry.model_dump(mode="json")


def _report(json_out: bool, data: Any, line: str) -> None:
    """One result: the record as JSON for machines, or one plain line for people."""
    from crib.cliutil import console, print_json

    if json_out:
        print_json(data)
    else:
        console().print(line, markup=False, highlight=False)


def _table(entries: list, title: str) -> None:
    from rich.table import Table

    from crib.cliutil import console, esc

    # Narrow columns, so the title keeps room at 80 columns (a terminal or a log file).
    t = Table(title=esc(title), caption="counts: used/helped/hurt")
    for col in ("id", "kind", "status", "title", "counts", "v"):
        t.add_column(col, no_wrap=col != "title", overflow="fold")
    for e in entries:  # titles are written by models: escaped, never read as markup
        cells = (e.id, e.kind, e.status, ("📌 " if e.pinned else "") + e.title,
                 f"{e.used}/{e.helped}/{e.hurt}", e.version)
        t.add_row(*[esc(c) for c in cells])
    console().print(t)


def _check_version(store, scope: str, version: int) -> None:
    """A sheet version that exists, or a clear error (not an empty answer)."""
    current = store.version(scope)
    if not 0 <= version <= current:
        raise ValueError(f"memory scope {scope!r} has versions 0..{current}, not {version}")


def _show_entry(e, record: Any = None) -> None:
    from rich.panel import Panel

    from crib.cliutil import console

    p = e.provenance
    meta = (f"{e.kind} · {e.status}{' · pinned' if e.pinned else ''} · v{e.version} · "
            f"scope {e.scope}\n"
            f"used {e.used} · helped {e.helped} · hurt {e.hurt}"
            + (f" · tags {', '.join(e.tags)}" if e.tags else "") +
            f"\nfrom: {p.source}, problem {p.problem_id}, run {p.run_id}, model {p.model}, "
            f"verdict {p.verdict}"
            + (f"\nnote: {p.note}" if p.note else "")
            + (f"\nskill record: {record.text()}" if record is not None else ""))
    from rich.text import Text

    from crib.cliutil import esc

    console().print(Panel(Text(f"{meta}\n\n{e.body}"), title=esc(f"[{e.id}] {e.title}"),
                          expand=False))


@app.command("list")
@_errors
def list_(scope: Optional[str] = typer.Option(
              None, "--scope", "-s", help="Memory scope (default: every scope)."),
          status: str = typer.Option(
              "live", help="active, quarantined, archived, live (active+quarantined) or all."),
          version: Optional[int] = typer.Option(
              None, help="List the sheet as it was at this version."),
          json_out: bool = JsonOpt) -> None:
    """List the entries of a scope.

    Example: crib memory list --scope game24 --status all
    """
    from crib.cliutil import console, print_json
    from crib.memory.models import MemoryEntry

    store = _store(index=False)
    statuses = {"live": ("active", "quarantined"),
                "all": ("active", "quarantined", "archived")}.get(status, (status,))
    if scope is None:  # every scope: `crib solve` learns in a scope named after the domain
        if version is not None:
            raise UsageError("--version goes with --scope S")
        entries = [e for row in store.scopes()
                   for e in store.entries(row["scope"], status=statuses)]
    elif version is not None:
        _check_version(store, scope, version)
        entries = [MemoryEntry.model_validate(s) for s in store.state_at(scope, version).values()]
        entries = sorted((e for e in entries if e.status in statuses), key=lambda e: e.id)
    else:
        entries = store.entries(scope, status=statuses)
    if json_out:
        print_json([_dump(e) for e in entries])
        return
    if scope is None:  # one table a scope
        for row in store.scopes():
            mine = [e for e in entries if e.scope == row["scope"]]
            if mine:
                _table(mine, f"memory scope {row['scope']!r} (version {row['version']})")
        if not entries:
            console().print("no memory entries yet", highlight=False)
    else:
        shown = version if version is not None else store.version(scope)
        _table(entries, f"memory scope {scope!r} (version {shown})")


@app.command("show")
@_errors
def show(entry_id: str, version: Optional[int] = typer.Option(
             None, help="Show the entry as it was at this sheet version."),
         json_out: bool = JsonOpt) -> None:
    """Show one entry in full.

    Example: crib memory show m-1a2b3c4d5e
    """
    from crib.cliutil import print_json
    from crib.memory.models import MemoryEntry

    store = _store(index=False)
    entry = store.get(entry_id)
    if version is not None:
        _check_version(store, entry.scope, version)
        state = store.state_at(entry.scope, version).get(entry_id)
        if state is None:
            raise ValueError(f"entry {entry_id} did not exist at version {version} "
                             f"of scope {entry.scope!r}")
        entry = MemoryEntry.model_validate(state)
    record = None
    if entry.kind == "skill":  # its code is the body; its record is its tests and uses
        from dataclasses import asdict

        from crib.memory.skills import skill_records, trials

        record = skill_records(store.engine, [entry])[entry.id]
    if json_out:
        extra = ({"record": asdict(record), "trials": trials(store.engine, entry.id)}
                 if record else {})
        print_json({**_dump(entry), **extra})
    else:
        _show_entry(entry, record)


@app.command("search")
@_errors
def search(text: str, scope: str = ScopeOpt,
           k: int = typer.Option(5, "-k", help="How many entries."),
           all_statuses: bool = typer.Option(
               False, "--all", help="Include quarantined and archived entries."),
           json_out: bool = JsonOpt) -> None:
    """Entries most similar to TEXT (offline embeddings, Chroma).

    Example: crib memory search "make 24 from four numbers" --scope game24
    """
    from crib.cliutil import console, esc, print_json

    hits = _store().search(scope, text, k, status=None if all_statuses else "active")
    if json_out:
        print_json([{**_dump(e), "similarity": s} for e, s in hits])
        return
    for e, s in hits:
        console().print(f"[bold]{s:.3f}[/] " + esc(f"[{e.id}] {e.title} ({e.kind}, {e.status})"),
                        highlight=False)


@app.command("add")
@_errors
def add(scope: str = ScopeOpt,
        kind: str = typer.Option("strategy", help="strategy, code, pitfall, fact or skill."),
        title: Optional[str] = typer.Option(None, help="Short title (a skill's is its signature)."),
        body: Optional[str] = typer.Option(None, help="The entry text ('-' reads standard input)."),
        file: Optional[Path] = typer.Option(
            None, "--file", help="Read the body from this file (a skill: its Python code)."),
        domain: Optional[str] = typer.Option(
            None, help="A skill's domain, whose problems and checker test it "
                       "(default: the scope)."),
        tags: str = typer.Option("", help="Comma-separated tags."),
        pinned: bool = typer.Option(False, "--pinned", help="Always render this entry first."),
        json_out: bool = JsonOpt) -> None:
    """Add an entry by hand (active at once; hand-written entries are not gated).

    Example: crib memory add --scope game24 --kind pitfall --title "Exact division"
    --body "Use fractions."
    """
    from crib.memory.ops import find_placeholder

    if (body is None) == (file is None):
        raise UsageError("give the entry's text with --body or --file (one of them)")
    text = file.read_text() if file is not None else sys.stdin.read() if body == "-" else body or ""
    if kind == "skill":
        from crib.skill_cli import add_skill

        entry = add_skill(_store(), scope, text, domain or scope)
        _report(json_out, _dump(entry), f"skill [{entry.id}] {entry.title}: {entry.status} "
                f"({_last_reason(entry)})")
        return
    if kind not in ("strategy", "code", "pitfall", "fact"):
        raise UsageError(f"--kind must be strategy, code, pitfall, fact or skill, not {kind!r}")
    if title is None:
        raise UsageError("--title is required (except for --kind skill)")
    if found := find_placeholder(text):
        raise ValueError(f"--body holds placeholder text {found!r}; write the content out")
    entry = _store().add(scope, title, text, kind=kind,
                         tags=[t.strip() for t in tags.split(",") if t.strip()],
                         pinned=pinned, reason="added by user")
    _report(json_out, _dump(entry),
            f"added [{entry.id}] to scope {scope!r}")


@app.command("skills")
@_errors
def skills(scope: str = ScopeOpt, all_statuses: bool = typer.Option(
               False, "--all", help="Candidates and archived skills too."),
           json_out: bool = JsonOpt) -> None:
    """The scope's skills (tested functions importable as `from skills import NAME` in the
    sandbox) with their code and record.

    Example: crib memory skills --scope game24
    """
    from dataclasses import asdict

    from crib.cliutil import print_json
    from crib.memory.skills import skill_records

    store = _store(index=False)
    found = [e for e in store.entries(scope, status=None if all_statuses else "active")
             if e.kind == "skill"]
    records = skill_records(store.engine, found)
    if json_out:
        print_json([{**_dump(e), "record": asdict(records[e.id])} for e in found])
        return
    if not found:
        _report(False, None, f"no {'' if all_statuses else 'active '}skills in scope {scope!r}")
    for e in found:
        _show_entry(e, records[e.id])


def _last_reason(entry) -> str:
    return _store(index=False).history(entry.scope, entry.id)[-1].reason or entry.status


@app.command("edit")
@_errors
def edit(entry_id: str, title: Optional[str] = typer.Option(None),
         body: Optional[str] = typer.Option(None, help="New body ('-' reads standard input)."),
         kind: Optional[str] = typer.Option(None),
         tags: Optional[str] = typer.Option(None, help="Comma-separated tags."),
         status: Optional[str] = typer.Option(
             None, help="active, quarantined or archived (e.g. release from quarantine)."),
         json_out: bool = JsonOpt) -> None:
    """Edit an entry (a new version; the old one stays in the history).

    Example: crib memory edit m-1a2b3c4d5e --status active
    """
    fields: dict[str, Any] = {}
    if title is not None:
        fields["title"] = title
    if body is not None:
        fields["body"] = sys.stdin.read() if body == "-" else body
    if kind is not None:
        fields["kind"] = kind
    if tags is not None:
        fields["tags"] = [t.strip() for t in tags.split(",") if t.strip()]
    if status is not None:
        fields["status"] = status
    if not fields:
        raise UsageError("nothing to change: give --title, --body, --kind, --tags or --status")
    entry = _store().edit(entry_id, reason="edited by user", **fields)
    _report(json_out, _dump(entry),
            f"[{entry.id}] is now version {entry.version}")


@app.command("rm")
@_errors
def rm(entry_id: str, reason: str = typer.Option("removed by user"),
       json_out: bool = JsonOpt) -> None:
    """Archive an entry (nothing is deleted; `rollback` can bring it back).

    Example: crib memory rm m-1a2b3c4d5e --reason "wrong"
    """
    entry = _store().archive(entry_id, reason)
    _report(json_out, _dump(entry),
            f"archived [{entry.id}] {entry.title}")


@app.command("pin")
@_errors
def pin(entry_id: str, unpin: bool = typer.Option(False, "--unpin"),
        json_out: bool = JsonOpt) -> None:
    """Pin an entry (rendered before all others) or unpin it.

    Example: crib memory pin m-1a2b3c4d5e
    """
    entry = _store().pin(entry_id, not unpin)
    _report(json_out, _dump(entry),
            f"[{entry.id}] {'unpinned' if unpin else 'pinned'}")


@app.command("history")
@_errors
def history(entry_id: Optional[str] = typer.Argument(None), scope: str = ScopeOpt,
            json_out: bool = JsonOpt) -> None:
    """The change log of a scope, or of one entry.

    Example: crib memory history --scope game24
    """
    from rich.table import Table

    from crib.cliutil import console, esc, print_json

    store = _store(index=False)
    if entry_id is not None:
        scope = store.get(entry_id).scope
    events = store.history(scope, entry_id)
    if json_out:
        print_json([ev.model_dump(mode="json") for ev in events])
        return
    t = Table(title=esc(f"history of {entry_id or 'scope ' + repr(scope)}"))
    for col in ("version", "when", "action", "entry", "title", "status", "reason"):
        t.add_column(col)
    for ev in events:
        cells = (ev.seq, str(ev.created_at)[:19], ev.action, ev.entry_id,
                 ev.state.get("title", ""), ev.state.get("status", ""), ev.reason or "")
        t.add_row(*[esc(c) for c in cells])
    console().print(t)


@app.command("diff")
@_errors
def diff(v1: int, v2: int, scope: str = ScopeOpt, json_out: bool = JsonOpt) -> None:
    """What changed in the sheet between two versions.

    Example: crib memory diff 3 7 --scope game24
    """
    from crib.cliutil import console, esc, print_json

    store = _store(index=False)
    for v in (v1, v2):
        _check_version(store, scope, v)
    d = store.diff(scope, v1, v2)
    if json_out:
        print_json(d.model_dump(mode="json"))
        return
    c = console()
    for e in d.added:
        c.print("[green]" + esc(f"+ [{e['id']}] {e['title']}") + "[/]", highlight=False)
    for e in d.removed:
        c.print("[red]" + esc(f"- [{e['id']}] {e['title']}") + "[/]", highlight=False)
    for ch in d.changed:
        c.print("[yellow]" + esc(f"~ [{ch['id']}] {ch['title']}") + "[/]", highlight=False)
        for field, (old, new) in ch["fields"].items():
            c.print(f"    {field}: {old!r} -> {new!r}", markup=False, highlight=False)
    if not (d.added or d.removed or d.changed):
        c.print(f"no differences between versions {v1} and {v2}", highlight=False)


@app.command("rollback")
@_errors
def rollback(version: int, scope: str = ScopeOpt, json_out: bool = JsonOpt) -> None:
    """Restore the sheet's content to an earlier version (recorded as new events).

    Example: crib memory rollback 5 --scope game24
    """
    store = _store()
    before = store.version(scope)
    after = store.rollback(scope, version)
    _report(json_out, {"scope": scope, "restored": version, "version_before": before,
                       "version": after},
            f"scope {scope!r} restored to the content of version {version} (now version {after})")


@app.command("export")
@_errors
def export(file: Path, scope: str = ScopeOpt,
           fmt: str = typer.Option("json", "--format", help="json or md."),
           json_out: bool = JsonOpt) -> None:
    """Write a scope to FILE as JSON (re-importable) or Markdown (for reading).

    Example: crib memory export sheet.md --format md --scope game24
    """
    from crib.memory.transfer import export_scope, to_markdown

    if fmt not in ("json", "md"):
        raise UsageError(f"--format must be json or md, not {fmt!r}")
    store = _store(index=False)
    if fmt == "json":
        data = export_scope(store, scope)
        text, n = json.dumps(data, indent=2, ensure_ascii=False), len(data["entries"])
    else:
        entries = store.entries(scope, status=("active", "quarantined"))
        text, n = to_markdown(scope, store.version(scope), entries), len(entries)
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot write {file}: {exc.strerror or exc}") from exc
    _report(json_out, {"file": str(file), "format": fmt, "entries": n},
            f"wrote {n} entries of scope {scope!r} to {file}")


@app.command("import")
@_errors
def import_(file: Path, scope: str = ScopeOpt, json_out: bool = JsonOpt) -> None:
    """Load a JSON export into a scope (new versions; existing history kept).

    Example: crib memory import sheet.json --scope game24-copy
    """
    from crib.memory.transfer import import_scope

    from pydantic import ValidationError

    from crib.cliutil import brief_validation_error

    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{file}: not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file}: not JSON ({exc})") from exc
    except OSError as exc:
        raise ValueError(f"cannot read {file}: {exc.strerror or exc}") from exc
    try:
        counts = import_scope(_store(), scope, data)
    except ValueError as exc:
        if isinstance(exc.__cause__, ValidationError):  # one line, not pydantic's dump and links
            where = str(exc).split(": ", 1)[0]  # "entry 3 (m-…)"
            raise ValueError(f"{file}: {where}: {brief_validation_error(exc.__cause__)}") from exc
        raise ValueError(f"{file}: {exc}") from exc
    _report(json_out, {"scope": scope, **counts},
            f"imported into {scope!r}: {counts['entries']} entries written, "
            f"{counts['unchanged']} unchanged, {counts['problems']} past problems")


@app.command("copy")
@_errors
def copy(target: str, scope: str = ScopeOpt, json_out: bool = JsonOpt) -> None:
    """Copy a scope's live entries and past problems into a new scope TARGET.

    Example: crib memory copy game24-test --scope game24
    """
    n = _store().copy_scope(scope, target)
    _report(json_out, {"source": scope, "target": target, "entries": n},
            f"copied {n} entries from {scope!r} to {target!r}")


@app.command("reindex")
@_errors
def reindex(scope: str = ScopeOpt, json_out: bool = JsonOpt) -> None:
    """Rebuild the scope's Chroma collections from SQL.

    Example: crib memory reindex --scope game24
    """
    store = _store()
    counts = store.reindex(scope)
    _report(json_out, {"scope": scope, "index": store.index.where, **counts},
            f"reindexed scope {scope!r}: {counts['entries']} entries, "
            f"{counts['problems']} past problems "
            f"({store.index.where})")


@app.command("stats")
@_errors
def stats(scope: str = ScopeOpt, top: int = typer.Option(5, help="How many most helpful entries."),
          json_out: bool = JsonOpt) -> None:
    """Size in entries and tokens, quarantine, curation outcomes, the most helpful entries.

    Example: crib memory stats --scope game24 --json
    """
    from crib.cliutil import console, esc, print_json
    from crib.memory.stats import scope_stats

    data = scope_stats(_store(index=False), scope, top)
    if json_out:
        print_json(data)
        return
    c, n = console(), data["entries"]
    c.print(f"scope {esc(repr(scope))}, version {data['version']}: {n['active']} active "
            f"({data['tokens_active']} tokens rendered in full), {n['quarantined']} quarantined, "
            f"{n['archived']} archived; {data['problems']} past problems", highlight=False)
    if data["curations"]:
        c.print("curations: " + ", ".join(f"{k} {v}" for k, v in data["curations"].items()),
                markup=False, highlight=False)
    for h in data["most_helpful"]:
        c.print(f"  helped {h['helped']:>3}  hurt {h['hurt']:>3}  used {h['used']:>3}  "
                f"[{h['id']}] {h['title']}",
                markup=False, highlight=False)
