"""Command groups of the CLI: (name, module in crib.commands, one-line help).

Each module defines `app` (a typer.Typer group, or a plain function for a single command) and
imports only typer and the standard library at top level."""

COMMAND_GROUPS: list[tuple[str, str, str]] = [
    ("config", "config", "Show the effective configuration and where each value came from."),
    ("model", "model", "The embedded local model: status, install, serve."),
    ("solve", "solve",
     "Solve a batch of problems (a dataset or generated) with the verifier loop."),
    ("chat", "chat", "An interactive session: streamed answers, checks, memory, slash commands."),
    ("search", "search", "Meta Agent Search: a meta-agent writes agents, the cascade scores them."),
    ("memory", "memory", "The cheatsheet memory: inspect, edit, version, export, reindex."),
    ("archive", "archive", "Search archives: list, show, diff, export, import, plot."),
    ("sandbox", "sandbox", "Run code in Crib's sandbox and check which isolation tiers work."),
    ("runs", "runs", "Runs' transcripts: the space they take, and pruning old ones."),
    ("view", "view", "A local read-only web viewer: runs, transcripts, memory, search runs."),
]
