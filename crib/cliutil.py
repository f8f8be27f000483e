"""Small shared pieces of the CLI: the console, JSON output, clear failures, loading config."""
from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer

_console = None
_err_console = None


def console():
    """A Rich console on stdout (Rich itself honours NO_COLOR and non-terminals)."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console()
    return _console


def err_console():
    global _err_console
    if _err_console is None:
        from rich.console import Console

        _err_console = Console(stderr=True)
    return _err_console


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a clear error on stderr and exit non-zero."""
    err_console().print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def run_flags(*, cache: str | None = None, db: str | None = None, budget_usd: float | None = None,
              budget_tokens: int | None = None, solver_model: str | None = None,
              unsafe: bool = False) -> dict[str, Any]:
    """The config layer that run commands' flags make (only the flags that were given)."""
    flags: dict[str, Any] = {}
    if cache:
        flags["cache"] = cache
    if db:
        flags["db_url"] = db
    if budget_usd is not None:
        flags["budget_usd"] = budget_usd
    if budget_tokens is not None:
        flags["budget_tokens"] = budget_tokens
    if solver_model:
        flags["solver"] = {"model": solver_model}
    if unsafe:
        flags["sandbox"] = {"unsafe_no_sandbox": True}
    return flags


def config_or_fail(flags: dict[str, Any] | None = None):
    """The effective config and its sources; a broken config file is a clear error, not a trace."""
    from crib.config import ConfigError, load_config

    try:
        return load_config(flags)
    except ConfigError as exc:
        fail(str(exc), 2)
