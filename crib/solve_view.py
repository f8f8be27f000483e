"""What `crib solve` shows: a live progress bar, the summary table, JSON, ablation side by side."""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import Any

from crib.cliutil import console, err_console, esc, print_error, print_json
from crib.memory.mode_names import ABLATION_MODES, SKILL_MODES
from crib.solve_run import SolveError, SolveOptions, run_solve


@dataclass
class _Tally:
    """Running figures for the progress line: O(1) an update."""
    seen: int = 0
    scored: int = 0
    score: float = 0.0
    errors: int = 0


def problem_line(record: dict) -> str:
    """One finished problem: passed or not, its spend, and what its skills did."""
    mark = {True: "✓", False: "✗", None: "?"}[record.get("passed")]
    calls = record.get("calls", 0)
    tokens = record.get("tokens_in", 0) + record.get("tokens_out", 0)
    skills = [n for n in record.get("notes", [])
              if n.startswith(("skill ", "called skill "))]
    return (f"  {mark} {record.get('problem_id')}  {calls} call{'s' * (calls != 1)}, "
            f"{tokens:,} tokens" + "".join(f"; {n}" for n in skills))


def _fmt_pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def summary_table(summaries: list[tuple[str, Any]], title: str):
    """One row per figure, one column per run: it fits 80 columns (a terminal or a log file),
    where a row per run with ten figures did not."""
    from rich.table import Table

    table = Table(title=esc(title))
    table.add_column("")
    for label, _ in summaries:
        table.add_column(esc(label), justify="right", overflow="fold")
    rows: list[tuple[str, list[str]]] = [
        ("problems", [str(s.n) for _, s in summaries]),
        ("accuracy", [_fmt_pct(s.accuracy) for _, s in summaries]),
        ("95% CI", ["—" if s.ci_low is None else f"{_fmt_pct(s.ci_low)}–{_fmt_pct(s.ci_high)}"
                    for _, s in summaries]),
        ("verified", [_fmt_pct(s.verifier_pass_rate) for _, s in summaries]),
        ("calls", [f"{s.calls} ({s.cached_calls} cached)" for _, s in summaries]),
        ("requests", [str(s.requests) for _, s in summaries]),  # retries included
        ("tokens in/out", [f"{s.tokens_in}/{s.tokens_out}" for _, s in summaries]),
        ("cost $", [f"{s.cost_usd:.4f}" for _, s in summaries]),
        ("time s", [f"{s.wall_s:.1f}" for _, s in summaries]),
        ("errors", [str(s.errors) for _, s in summaries]),
    ]
    for name, cells in rows:
        table.add_row(name, *cells)
    return table


async def _one_run(cfg, opts: SolveOptions, *, run_id, resume, retry_errors, show_progress,
                   executor="local", ray_address=None):
    from crib.context import open_context, start_sandbox
    from crib.sandbox import SandboxUnavailable

    local_runs = min(opts.concurrency, opts.limit or opts.concurrency) if executor == "local" else 0
    try:  # first: its zygotes start while the rest is imported and opened
        sandbox = start_sandbox(cfg, agent_runs=local_runs)
    except SandboxUnavailable as exc:
        raise SolveError(str(exc)) from None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[stats]}"), TimeElapsedColumn(),
                        console=err_console(), disable=not show_progress, transient=False)
    task_id = None

    def on_start(rid: str, total: int, done: int) -> None:
        nonlocal task_id
        err_console().print(f"run [bold]{esc(rid)}[/]: {total} problems, {done} already done"
                            f" (resume with: crib solve --resume {esc(rid)})", highlight=False)
        task_id = progress.add_task(esc(opts.domain), total=total, completed=done, stats="")

    tally = _Tally()

    def on_progress(record: dict, outcomes: list[dict]) -> None:
        if not show_progress or task_id is None:  # no bar yet (on_start makes it)
            return
        if opts.memory in SKILL_MODES:  # learning is visible problem by problem
            progress.console.print(problem_line(record), highlight=False, markup=False)
        for o in outcomes[tally.seen:]:  # the new ones (all of them at the first call)
            if o.get("score") is not None or o.get("error"):
                tally.scored += 1
                tally.score += o.get("score") or 0.0
            tally.errors += bool(o.get("error"))
        tally.seen = len(outcomes)
        acc = tally.score / tally.scored if tally.scored else None
        errors = tally.errors
        spend = ctx.llm.spend(ctx.llm.run_id)  # running totals while the run is tracked
        progress.update(task_id, advance=1, stats=f"acc {_fmt_pct(acc)}  calls {spend.calls}  "
                        f"req {spend.requests}  "
                        f"tok {spend.tokens_in + spend.tokens_out}  ${spend.cost_usd:.4f}  "
                        f"errors {errors}")

    from crib.agents.executors import ExecutorUnavailable
    from crib.executor_wiring import open_executor

    async with open_context(cfg, sandbox=sandbox) as ctx:
        try:
            with open_executor(ctx, executor, ray_address) as runner, progress:
                return await run_solve(ctx, opts, run_id=run_id, resume=resume,
                                       retry_errors=retry_errors, on_start=on_start,
                                       on_progress=on_progress, executor=runner)
        except ExecutorUnavailable as exc:
            raise SolveError(str(exc)) from exc


async def run_and_report(cfg, opts: SolveOptions, *, run_id, resume, retry_errors, ablate, json_out,
                         executor="local", ray_address=None) -> int:
    """Run, print, and return the exit code: 0 done, 1 nothing solved without error,
    2 bad set-up, 3 stopped by a budget (resumable), 130 interrupted (resumable)."""
    from crib.agents.llm.errors import BudgetExceeded

    modes = ABLATION_MODES if ablate else (opts.memory,)
    summaries = []
    try:
        for mode in modes:
            run_opts = opts
            if ablate:  # each mode learns in a scope of its own: the modes cannot help each other
                run_opts = replace(opts, memory=mode,
                                   scope=f"{opts.scope or opts.domain}-ablate-{mode}")
            summary = await _one_run(cfg, run_opts, run_id=None if ablate else run_id,
                                     resume=resume, retry_errors=retry_errors,
                                     show_progress=sys.stderr.isatty() or not json_out,
                                     executor=executor, ray_address=ray_address)
            summaries.append((mode, summary))
        if ablate:  # the compute-matched baseline: no memory, best-of-n at the memory run's calls
            from crib.learning_view import MATCHED, matched_options

            by_mode = dict(summaries)
            matched = matched_options(opts, by_mode["dc-cu"], by_mode["none"])
            summaries.append((f"{MATCHED} (n={matched.n})", await _one_run(
                cfg, matched, run_id=None, resume=resume, retry_errors=retry_errors,
                show_progress=sys.stderr.isatty() or not json_out, executor=executor,
                ray_address=ray_address)))
    except SolveError as exc:
        print_error(exc)
        return 2
    except BudgetExceeded as exc:
        print_error(f"{exc}. The run is saved; continue it with `crib solve --resume <run id>` "
                    "and a larger budget.", "stopped", "bold yellow")
        return 3
    if json_out:
        if ablate:
            print_json({"ablation": {m: s.model_dump() for m, s in summaries}})
        else:
            print_json(summaries[0][1].model_dump())
    else:
        title = ("Ablation over memory modes" if ablate
                 else f"crib solve — {opts.domain} with {opts.agent}"
                 + (f", loop {opts.loop} (stored in the agent)" if opts.loop_from_agent
                    else ""))
        label = (lambda m, s: m) if ablate else (lambda m, s: s.run_id)
        console().print(summary_table([(label(m, s), s) for m, s in summaries], title))
        if ablate or opts.memory != "none":  # memory runs show what they learned
            from crib.learning_view import learning_table

            console().print(learning_table([(label(m, s), s) for m, s in summaries]))
    for mode, s in summaries:
        _print_errors(mode if ablate else s.run_id, s)
    worst = summaries[-1][1]
    if any(s.stopped_because for _, s in summaries):
        return 1
    return 1 if worst.n and worst.errors == worst.n else 0


def _print_errors(label: str, s: Any) -> None:
    """The most frequent error reasons and, for a batch stopped early, why and what next
    (on stderr: stdout keeps the table or the JSON line)."""
    from crib.cliutil import shorten

    out = err_console()
    if s.top_errors:
        out.print(f"{esc(label)}: most frequent errors:", highlight=False)
        for reason, count in s.top_errors:  # a reason may quote a model's reply: capped
            out.print(f"  {count} × {esc(shorten(reason))}", highlight=False, soft_wrap=True)
    if s.stopped_because:
        out.print(f"[bold red]stopped early:[/] {esc(shorten(s.stopped_because))}. Fix the "
                  f"endpoint, then `crib solve --resume {esc(s.run_id)} --retry-errors`.",
                  highlight=False, soft_wrap=True)
