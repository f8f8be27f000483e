"""`crib view`: the local read-only web viewer over the database (crib/view/)."""
from __future__ import annotations

import typer


def view(
    host: str = typer.Option("127.0.0.1", "--host", help="Address (default: this machine only)."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port (0: any free port)."),
    db: str = typer.Option(None, "--db", help="Database URL (default: SQLite in the data dir)."),
    open_browser: bool = typer.Option(False, "--open", help="Open it in the default browser."),
) -> None:
    """Look at runs, attempts' transcripts, memory and search runs in a browser (read-only).

    Example: crib view --open
    """
    import socket

    from crib.cliutil import config_or_fail, err_console, fail

    cfg, _ = config_or_fail({"db_url": db} if db else None)
    try:
        import uvicorn

        from crib.view.app import create_app, readonly_engine
    except ImportError as exc:
        fail(f"the viewer needs its extra packages ({exc.name}): pip install 'crib[view]'", 2)
    try:
        engine = readonly_engine(cfg.database_url)
    except (FileNotFoundError, ValueError) as exc:
        fail(f"--db: {exc}", 2)
    try:
        sock = socket.create_server((host, port))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 2)
    bound = sock.getsockname()[1]
    url = f"http://{host if ':' not in host else f'[{host}]'}:{bound}/"
    err_console().print(f"crib view on {url} (read-only; Ctrl-C stops it)", highlight=False)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    server = uvicorn.Server(uvicorn.Config(create_app(engine), log_level="warning",
                                           access_log=False))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()


app = view
