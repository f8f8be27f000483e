"""`crib solve`: batch problem solving over a dataset or a domain's own generated problems."""
from __future__ import annotations

from pathlib import Path

import typer

from crib.memory.mode_names import ABLATION_MODES, MEMORY_MODES

# What a resumed run takes from its manifest, not from the command line.
STORED_ON_RESUME = ("file", "domain", "agent", "loop", "rounds", "samples", "memory", "scope",
                    "concurrency", "limit", "seed", "cold", "out", "run_id", "skip_bad_lines",
                    "input_field", "target_field", "ablate")


def solve(
    ctx: typer.Context,
    file: Path = typer.Argument(
        None, help="JSONL or CSV dataset; omit to generate the domain's own problems."),
    domain: str = typer.Option(
        "game24", "--domain", help="game24, equation-balancer, math-numeric, multiple-choice, "
                                   "code-synthesis, arc, drop, free."),
    agent: str = typer.Option(
        "cot", "--agent", help="Seed agent name or a path to an agent .py file."),
    loop: str = typer.Option("single", "--loop", help="single | retry | best-of-n | vote."),
    rounds: int = typer.Option(3, "--rounds", help="Retry rounds for --loop retry."),
    samples: int = typer.Option(5, "--samples", help="Samples for --loop best-of-n and vote."),
    memory: str = typer.Option(
        None, "--memory", help="none | empty | full-history | retrieval | dc-cu | dc-rs | "
                               "skills (default: config memory.mode)."),
    scope: str = typer.Option(None, "--scope", help="Memory scope (default: the domain name)."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Problems in flight at once."),
    limit: int = typer.Option(None, "--limit", min=1, help="Solve only the first N problems."),
    seed: int = typer.Option(
        0, "--seed", help="Seed for generated problems and the bootstrap interval."),
    cold: int = typer.Option(
        10, "--cold", min=1, help="The learning curve's cold part: the first N problems (the "
                                  "rest are warm)."),
    cache: str = typer.Option(None, "--cache", help="LLM response cache: on | off | read | write."),
    out: Path = typer.Option(None, "--out", help="Write one JSON line per problem to this file."),
    run_id: str = typer.Option(None, "--run-id", help="Name the new run (default: generated)."),
    resume: str = typer.Option(
        None, "--resume", help="Finish the run with this id (after a kill or a budget stop)."),
    retry_errors: bool = typer.Option(
        False, "--retry-errors", help="With --resume: solve again the problems that ended in an "
                                      "error."),
    skip_bad_lines: bool = typer.Option(
        False, "--skip-bad-lines", help="Record broken dataset lines and go on (default: stop "
                                        "before any work)."),
    input_field: str = typer.Option("input", "--input-field"),
    target_field: str = typer.Option("target", "--target-field"),
    ablate: bool = typer.Option(
        False, "--ablate",
        help=f"Run the same problems under memory modes {', '.join(ABLATION_MODES)} and compare."),
    budget_usd: float = typer.Option(
        None, "--budget-usd", help="Stop cleanly when the run has spent this much."),
    budget_tokens: int = typer.Option(
        None, "--budget-tokens", help="Stop cleanly after this many tokens."),
    executor: str = typer.Option(
        "local", "--executor", help="local | ray: where problems run (ray: on a Ray cluster)."),
    ray_address: str = typer.Option(
        None, "--ray-address", help="Ray cluster address HOST:PORT (with --executor ray; "
                                    "default: $RAY_ADDRESS)."),
    db: str = typer.Option(
        None, "--db", help="Database URL (default: SQLite in the data dir; PostgreSQL for a "
                           "multi-machine Ray cluster)."),
    unsafe_no_sandbox: bool = typer.Option(
        False, "--unsafe-no-sandbox", help="Run agent code without isolation (dangerous)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON (last line)."),
) -> None:
    """Solve a batch of problems with an agent inside the sandbox and the verifier loop.

    Example: crib solve --domain game24 --limit 10 --agent program-of-thought --loop retry
    --memory dc-cu

    On a Ray cluster: crib solve data.jsonl --executor ray --ray-address HOST:6379
    --db postgresql+psycopg://crib@HOST/crib --memory none
    """
    import asyncio

    from crib.cliutil import agent_problem, config_or_fail, fail, flags_given, run_flags, warn

    if loop not in ("single", "retry", "best-of-n", "vote"):
        fail(f"--loop must be single, retry, best-of-n or vote, not {loop!r}", 2)
    if memory is not None and memory not in MEMORY_MODES:
        fail(f"--memory must be one of {', '.join(MEMORY_MODES)}, not {memory!r}", 2)
    if retry_errors and not resume:
        fail("--retry-errors goes with --resume RUN", 2)
    if resume and (ignored := flags_given(ctx, STORED_ON_RESUME)):
        warn(f"{', '.join(ignored)} ignored with --resume: the run keeps the settings it "
             "started with")
    if not resume and (problem := agent_problem(agent)):
        fail(problem, 2)
    stored = None if resume else stored_loop(agent)
    if stored is not None and not flags_given(ctx, ("loop",)):
        loop = stored  # the loop the search scored this agent with; --loop overrides it
    if out is not None and out.is_dir() and not resume:
        fail(f"--out {out} is a directory; give a file name", 2)
    from crib.agents.executors import ExecutorUnavailable
    from crib.executor_wiring import precheck

    try:
        precheck(executor, ray_address)
    except ExecutorUnavailable as exc:
        fail(str(exc), 2)
    if stored is not None:
        from crib.cliutil import err_console

        err_console().print(f"note: {agent} carries loop {stored}; " + (
            f"--loop {loop} overrides it" if loop != stored else
            "solving with it (--loop chooses another)"), highlight=False, markup=False,
            soft_wrap=True)
    cfg, _ = config_or_fail(run_flags(cache=cache, db=db, budget_usd=budget_usd,
                                      budget_tokens=budget_tokens, unsafe=unsafe_no_sandbox))

    from crib.solve_run import SolveOptions

    opts = SolveOptions(
        domain=domain, file=file, agent=agent, loop=loop, k=rounds, n=samples,
        memory=memory or cfg.memory.mode, scope=scope, concurrency=concurrency, limit=limit,
        seed=seed, cold=cold, out=out, input_field=input_field, target_field=target_field,
        on_bad_line="skip" if skip_bad_lines else "stop",
        loop_from_agent=stored is not None and loop == stored,
    )
    if executor == "ray" and opts.memory != "none" and not resume:
        from crib.cliutil import err_console

        err_console().print(f"note: with --memory {opts.memory} the problems run on this machine "
                            "(the cheatsheet and its index live here); pass --memory none to fan "
                            "them out on the Ray cluster", highlight=False)
    if not resume and (note := unverifiable_curation(opts.domain, opts.memory, opts.loop,
                                                      cfg.memory.gating)):
        from crib.cliutil import err_console

        err_console().print(note, highlight=False, markup=False, soft_wrap=True)
    from crib.solve_view import run_and_report

    try:
        code = asyncio.run(run_and_report(cfg, opts, run_id=resume or run_id, resume=bool(resume),
                                          retry_errors=retry_errors, ablate=ablate,
                                          json_out=json_out, executor=executor,
                                          ray_address=ray_address))
    except KeyboardInterrupt:  # asyncio.run cancels the run (its status becomes "interrupted")
        fail("interrupted: finished problems are saved; continue with "
             "`crib solve --resume <run id>` (the id is printed above)", 130)
    raise typer.Exit(code)


def unverifiable_curation(domain: str, memory: str, loop: str, gating: bool) -> str | None:
    """Why a curating mode will learn nothing it shows, if so: on a domain without a checker
    only agreement across samples verifies an answer, and with one sample (loop single or
    retry) nothing does; gating then quarantines every entry (GSM8K: 50 curator calls, no entry
    ever shown, twice the wall time of --memory none)."""
    from crib.agents.domains import get_domain
    from crib.memory.mode_names import CURATED

    if memory not in CURATED or not gating or loop in ("best-of-n", "vote"):
        return None
    try:
        if get_domain(domain).has_checker:
            return None
    except KeyError:  # an unknown domain: the run says so
        return None
    return (f"note: {domain} has no checker that works without the answer, and with --loop "
            f"{loop} nothing else verifies one, so what the curator learns stays quarantined and "
            f"is never shown, while each problem still costs a curator call. --loop vote or "
            f"best-of-n lets agreement across samples verify; `crib memory edit ID --status "
            f"active` releases an entry; memory.gating = false shows everything")


def stored_loop(agent: str) -> str | None:
    """The verifier loop a compiled (building-block) agent file carries in its CONFIG, if any:
    the loop the search scored it with."""
    from crib.agents.library import load_agent
    from crib.meta_search.blocks import config_of

    try:
        config = config_of(load_agent(agent).code)
    except (OSError, UnicodeDecodeError, ValueError):  # agent_problem has said why
        return None
    return None if config is None else config.loop


app = solve
