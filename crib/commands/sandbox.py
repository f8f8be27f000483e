"""`crib sandbox run|check`: run a file in Crib's sandbox; report which isolation tiers work."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)


def _fail(message: str, code: int = 1) -> None:
    from crib.cliutil import fail

    fail(message, code)


@app.command("run")
def run(
    file: Path = typer.Argument(..., help="A Python file to run in the sandbox."),
    tier: str = typer.Option(
        "snippet", "--tier", help="agent (bubblewrap) or snippet (fork-server)."),
    timeout: float = typer.Option(10.0, "--timeout", help="Wall-clock limit in seconds."),
    memory: int = typer.Option(1024, "--memory", help="Address-space limit in MB."),
    entry: str = typer.Option(
        None, "--entry", help="A function to call after the file ran."),
    inputs: str = typer.Option(
        None, "--inputs", help="JSON arguments for --entry (list or object)."),
    unsafe_no_sandbox: bool = typer.Option(
        False, "--unsafe-no-sandbox", help="Run WITHOUT isolation where no tier works (loud)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Run FILE in the sandbox and print what it printed, then a summary (stderr).

    Exit status 0 when the run succeeded, 1 otherwise.

    Example: crib sandbox run answer.py --tier agent --timeout 5 --memory 512 --json
    """
    if tier not in ("agent", "snippet"):
        _fail(f"--tier must be agent or snippet, not {tier!r}", 2)
    try:
        code = file.read_text()
    except OSError as e:
        _fail(f"cannot read {file}: {e.strerror}", 2)
    args = None
    if inputs is not None:
        try:
            args = json.loads(inputs)
        except ValueError as e:
            _fail(f"--inputs is not JSON: {e}", 2)
    import asyncio

    from crib.sandbox import Limits, Sandbox, SandboxUnavailable

    try:
        limits = Limits(timeout_s=timeout, memory_mb=memory)
    except ValueError as e:
        _fail(f"bad limits: {e}", 2)

    async def go():
        async with Sandbox(unsafe_no_sandbox=unsafe_no_sandbox, slots=2) as sb:
            return await sb.run(code, tier=tier, entry=entry, inputs=args, limits=limits)

    try:
        result = asyncio.run(go())
    except SandboxUnavailable as e:
        _fail(str(e), 3)
    if json_out:
        from crib.cliutil import print_json

        print_json(result.model_dump())
    else:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        from crib.cliutil import err_console

        state = "[green]ok[/]" if result.ok else "[red]failed[/]"
        parts = [f"{state} tier={result.tier} exit={result.exit_code}",
                 f"wall={result.wall_ms:.1f} ms"]
        if result.limit_hit:
            parts.append(f"limit={result.limit_hit}")
        if result.error:
            parts.append(f"error={result.error}")
        if result.value is not None:
            parts.append(f"value={json.dumps(result.value)[:200]}")
        err_console().print("crib sandbox: " + "  ".join(parts), highlight=False)
        for w in result.warnings:
            err_console().print(f"[yellow]warning:[/] {w}", highlight=False)
    raise typer.Exit(0 if result.ok else 1)


@app.command("check")
def check_cmd(
    json_out: bool = typer.Option(False, "--json", help="Print JSON for machines."),
) -> None:
    """Report which isolation tiers work on this machine and why not; each working tier also
    runs one real snippet end to end. Exit status 0 when a safe tier works.

    Example: crib sandbox check --json
    """
    import asyncio

    from crib.sandbox import Sandbox, check

    report = check()
    trials: dict[str, dict] = {}
    if report.any_ok:
        async def trial():
            async with Sandbox(report=report, slots=2) as sb:
                for tier in ("agent", "snippet"):
                    if getattr(report, tier).ok:
                        r = await sb.run("print(6 * 7)", tier=tier)
                        trials[tier] = {"ok": r.ok and r.stdout == "42\n",
                                        "wall_ms": r.wall_ms, "error": r.error}
        asyncio.run(trial())
    ok = any(t["ok"] for t in trials.values())
    if json_out:
        from crib.cliutil import print_json

        print_json({**report.model_dump(), "trials": trials, "ok": ok})
    else:
        from rich.table import Table

        from crib.cliutil import console

        table = Table(title=f"Sandbox on {report.platform}/{report.machine} "
                            f"(root: {report.root}, Landlock ABI {report.landlock_abi})")
        for col in ("tier", "works", "why", "trial run"):
            table.add_column(col)
        for tier, what in (("agent", "bubblewrap"), ("snippet", "fork-server")):
            st = getattr(report, tier)
            t = trials.get(tier)
            trial_txt = ("—" if t is None else f"{t['wall_ms']:.1f} ms" if t["ok"]
                         else f"failed: {t['error']}")
            table.add_row(f"{tier} ({what})", "[green]yes[/]" if st.ok else "[red]no[/]",
                          st.reason, trial_txt)
        console().print(table)
        for note in report.notes:
            console().print(f"note: {note}")
        if not ok:
            console().print("[red]No sandbox tier works here: Crib will refuse untrusted code "
                            "unless you pass --unsafe-no-sandbox.[/]")
    raise typer.Exit(0 if ok else 1)
