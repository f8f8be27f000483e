"""The `crib` command. Keep this import-light: `crib --help` must start in well under 0.3 s,
so command modules import heavy libraries inside their functions."""
from __future__ import annotations

import atexit
import gc

import typer

app = typer.Typer(
    name="crib",
    help="Crib: reasoning with language models that improves itself.\n\n"
    "Example: crib solve --domain game24 --limit 10",
    no_args_is_help=True,
    rich_markup_mode=None,  # Rich help pulls in markdown-it: 150 ms of a 300 ms start budget
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from crib.commands import COMMAND_GROUPS

    for name, module_name, help_text in COMMAND_GROUPS:
        module = __import__(f"crib.commands.{module_name}", fromlist=["app"])
        if isinstance(module.app, typer.Typer):
            # A group's own callback docstring (with its example) wins over the one-liner.
            if module.app.registered_callback:
                app.add_typer(module.app, name=name, short_help=help_text)
            else:
                app.add_typer(module.app, name=name, short_help=help_text, help=help_text)
        else:  # a single command: its docstring (with its example) is its help
            app.command(name=name, short_help=help_text)(module.app)


def main() -> None:
    # Registered first, so it runs after every other exit handler: the interpreter's final
    # garbage collections then skip the heap the heavy libraries built (0.6 s of a `crib
    # solve`'s exit, measured; 0.07 s with it). Crib closes its files, databases and
    # sandboxes itself before this; what it skips is __del__ of objects left in cycles, which
    # Python does not promise to run at exit anyway.
    atexit.register(gc.freeze)
    _register()
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - only a configuration error is handled here
        from crib.config import ConfigError

        if not isinstance(exc, ConfigError):
            raise
        from rich.markup import escape

        from crib.cliutil import err_console

        # One line and exit 2 wherever a command meets it (config files, endpoints, roles).
        err_console().print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False,
                            soft_wrap=True)
        raise SystemExit(2) from None
