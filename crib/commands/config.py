"""`crib config show`: the effective configuration, secrets masked, with the source of each
value."""
from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("show")
def show(json_out: bool = typer.Option(False, "--json", help="Print JSON for machines.")) -> None:
    """Show the effective configuration and where each value came from.

    Precedence: flags > CRIB_* environment > ./crib.toml > user config > defaults.

    Example: crib config show --json
    """
    from crib.cliutil import config_or_fail, console, esc, print_json
    from crib.config import describe

    cfg, sources = config_or_fail()
    rows = describe(cfg, sources)
    if json_out:
        print_json({"config": {r["key"]: r["value"] for r in rows},
                    "sources": {r["key"]: r["source"] for r in rows}})
        return
    from rich.table import Table

    table = Table(title="Effective configuration", show_lines=False)
    for column in ("key", "value", "source"):
        table.add_column(column)
    for r in rows:
        value = "—" if r["value"] is None else str(r["value"])
        table.add_row(esc(r["key"]), esc(value), esc(r["source"]))  # values are the user's text
    console().print(table)
