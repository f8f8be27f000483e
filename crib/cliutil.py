"""Small shared pieces of the CLI: the console, JSON output, clear failures, loading config.

Text that Crib did not write (names, titles, errors, file names, model output, user input) goes
through `esc` before it reaches a Rich console, table or panel: Rich would read `[/b]` in it as
markup and raise MarkupError. Quoted input is capped with `shorten`: a 20 MB dataset line in an
error message would stall the terminal renderer."""
from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer

_console = None
_err_console = None

MAX_QUOTED_CHARS = 300  # of one line of a message that may quote input


def shorten(text: Any, limit: int = MAX_QUOTED_CHARS) -> str:
    """`text` as a string of at most about `limit` characters, saying how much was left out."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def esc(text: Any) -> str:
    """Untrusted text made safe to print as Rich markup (shown as written)."""
    from rich.markup import escape

    return escape(str(text))


def clean_message(message: Any) -> str:
    """A message that may quote input: each line capped, then escaped for Rich."""
    return "\n".join(esc(shorten(line)) for line in str(message).splitlines() or [""])


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


def print_error(message: Any, label: str = "error", style: str = "bold red") -> None:
    """`label: message` on stderr; the message is untrusted (capped and escaped)."""
    err_console().print(f"[{style}]{label}:[/] {clean_message(message)}", highlight=False,
                        soft_wrap=True)  # not wrapped at 80 columns: one line stays one line


def warn(message: Any) -> None:
    print_error(message, "warning", "yellow")


def fail(message: Any, code: int = 1) -> NoReturn:
    """Print a clear error on stderr and exit non-zero."""
    print_error(message)
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


def agent_problem(ref: str) -> str | None:
    """Why the agent `ref` (a seed name or a file) cannot run, or None. The code is parsed,
    never run: a broken file is reported before any problem is spent on it."""
    import ast

    from crib.agents.library import load_agent

    try:
        spec = load_agent(ref)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"agent {ref}: {exc}"
    try:
        tree = ast.parse(spec.code)
    except SyntaxError as exc:
        return f"agent {ref}: syntax error on line {exc.lineno}: {exc.msg}"
    except ValueError as exc:  # e.g. a NUL byte in the source
        return f"agent {ref}: cannot parse the code: {exc}"
    if not any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "forward"
               for node in tree.body):
        return f"agent {ref}: defines no top-level `def forward(...)`"
    return None


def brief_validation_error(exc: Any, most: int = 3) -> str:
    """A pydantic ValidationError in one line: where and what, without its dump and links."""
    parts = []
    for err in exc.errors()[:most]:
        where = ".".join(str(x) for x in err.get("loc", ())) or "(top level)"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def flags_given(ctx: Any, names: tuple[str, ...]) -> list[str]:
    """Which of the parameters `names` were given on the command line, as their flags."""
    by_name = {p.name: p for p in ctx.command.params}
    return [by_name[name].opts[0] if by_name[name].opts else name.upper() for name in names
            if getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"]
