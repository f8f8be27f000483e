"""`crib search`: Meta Agent Search; `crib search test RUN`, `crib search transfer RUN`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from crib.memory.mode_names import MEMORY_MODES

app = typer.Typer(no_args_is_help=False, invoke_without_command=True)

# What a resumed search takes from its stored config (--generations and --reflections it takes
# from the command line; budgets, database and executor are this process's).
STORED_ON_RESUME = ("domain", "val_size", "test_size", "file", "strategy", "space", "memory",
                    "meta_memory", "seeds", "minibatch", "smoke", "debug_rounds", "full", "loop",
                    "archive_tokens", "concurrency", "seed", "moves", "parents", "demos",
                    "demo_samples")
SPACE_HELP = ("code | blocks. code: the meta-agent writes agent code (for strong designers). "
              "blocks: the designer makes one small edit of a seed skeleton's instructions or "
              "settings per call (for small models). Default: blocks when the designer (the "
              "meta role) is the embedded local model or a model named as 3B parameters or "
              "fewer, else code.")
MOVES_HELP = ("blocks: the designer's moves, comma-separated, taken in turn by generation "
              "(e.g. rewrite for reflective rewrites only): rewrite, change, cross. Default: "
              "a seeded draw (45% rewrite, 40% change, 15% cross).")
DEFAULT_DEMOS = 24
DEFAULT_DEMO_SAMPLES = 4
DEMOS_HELP = ("blocks: run the best seed on up to N training problems (apart from validation "
              "and test), until 3 are solved, and let a change move show up to 3 of its "
              f"checked solutions before the task. Default {DEFAULT_DEMOS}; 0 turns it off.")
DEMO_SAMPLES_HELP = ("blocks: tries per training problem for --demos (best-of-n, stopping at "
                     f"the first checked answer). Default {DEFAULT_DEMO_SAMPLES}.")
PARENTS_HELP = ("blocks: how the two parents are chosen by validation fitness (plus a diversity "
                "term): tournament (seeded, 3 drawn, the best wins) or top-k (the best ones).")


def default_space(cfg) -> str:
    """blocks for small designers (published work: ≤2B designers write no working code)."""
    import re

    meta = cfg.role("meta")
    if meta.needs_embedded_server:
        return "blocks"
    size = re.search(r"(\d+(?:\.\d+)?)\s*b\b", (meta.model or "").lower())
    return "blocks" if size and float(size.group(1)) <= 3 else "code"


def _moves(text: str | None) -> list | None:
    """--moves as a list of known move kinds (None: the seeded draw); exit 2 on a bad one."""
    from crib.cliutil import fail
    from crib.meta_search.designer import MOVE_WEIGHTS

    if text is None:
        return None
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in MOVE_WEIGHTS]
    if unknown or not names:
        what = f"unknown move {', '.join(map(repr, unknown))}" if unknown else "no move given"
        fail(f"--moves: {what}; the moves are {', '.join(MOVE_WEIGHTS)}", 2)
    return names


def _config(db: str | None, budget_usd: float | None = None, budget_tokens: int | None = None,
            model: str | None = None, unsafe: bool = False):
    from crib.cliutil import config_or_fail, run_flags

    flags = run_flags(db=db, budget_usd=budget_usd, budget_tokens=budget_tokens,
                      solver_model=model, unsafe=unsafe)
    return config_or_fail(flags)[0]


@app.callback()
def search(
    ctx: typer.Context,
    domain: str = typer.Option(None, "--domain", help="Domain to design agents for, e.g. game24."),
    generations: int = typer.Option(
        None, "--generations", min=0, help="Generations to run in all (default 10; on --resume: "
                                           "the stored number)."),
    val_size: int = typer.Option(32, "--val-size", min=1, help="Validation problems."),
    test_size: int = typer.Option(64, "--test-size", min=0, help="Held-out test problems."),
    file: Path = typer.Option(
        None, "--file", help="Dataset (JSONL/CSV) to split; default: generated."),
    strategy: str = typer.Option("adas", "--strategy", help="adas | evolve (the code space)."),
    space: str = typer.Option(None, "--space", help=SPACE_HELP),
    moves: str = typer.Option(None, "--moves", help=MOVES_HELP),
    parents: str = typer.Option("tournament", "--parents", help=PARENTS_HELP),
    demos: int = typer.Option(None, "--demos", min=0, help=DEMOS_HELP),
    demo_samples: int = typer.Option(DEFAULT_DEMO_SAMPLES, "--demo-samples", min=1,
                                     help=DEMO_SAMPLES_HELP),
    memory: str = typer.Option(
        "none", "--memory", help="Memory-aware fitness: " + "|".join(MEMORY_MODES)),
    meta_memory: bool = typer.Option(
        False, "--meta-memory", help="Keep and curate design lessons for the meta-agent."),
    budget_usd: float = typer.Option(
        None, "--budget-usd", help="Stop cleanly at this spend (resumable)."),
    budget_tokens: int = typer.Option(
        None, "--budget-tokens", help="Stop cleanly at this many tokens."),
    executor: str = typer.Option("local", "--executor", help="local | ray."),
    ray_address: str = typer.Option(
        None, "--ray-address", help="Ray cluster address (with --executor ray)."),
    db: str = typer.Option(None, "--db", help="Database URL (default: SQLite in the data dir)."),
    resume: str = typer.Option(
        None, "--resume", help="Resume the search run RUN where it stopped."),
    seeds: str = typer.Option(
        None, "--seeds", help="Comma-separated seed agents (default: the library)."),
    minibatch: int = typer.Option(16, "--minibatch", min=1, help="Cascade minibatch size."),
    smoke: int = typer.Option(2, "--smoke", min=1, help="Smoke-run problems."),
    debug_rounds: int = typer.Option(
        3, "--debug-rounds", min=0, help="Debug rounds on smoke failures."),
    full: bool = typer.Option(
        False, "--no-cascade", help="Evaluate every candidate on full validation."),
    loop: str = typer.Option("single", "--loop", help="Verifier loop during evaluation."),
    reflections: int = typer.Option(
        None, "--reflections", min=0, max=2, help="Reflection passes per proposal (default 2; "
                                                  "fewer for slow local models)."),
    archive_tokens: int = typer.Option(
        3000, "--archive-tokens", min=200, help="Token cap of the archive view the meta-agent "
                                                "sees."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Problems in flight."),
    seed: int = typer.Option(0, "--seed", help="Seed for splits and bootstrap intervals."),
    unsafe_no_sandbox: bool = typer.Option(
        False, "--unsafe-no-sandbox", help="Run agents without isolation (dangerous)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON (last line)."),
) -> None:
    """Search for agents: a meta-agent writes candidates, the cascade scores them in the sandbox.

    Example: crib search --domain game24 --generations 3 --val-size 20 --budget-usd 1
    """
    if ctx.invoked_subcommand is not None:
        return
    import asyncio

    from crib.cliutil import fail, flags_given, warn

    if not resume and not domain:
        fail("give --domain D for a new search, or --resume RUN", 2)
    if domain and not resume:
        _check_domain(domain)
    if file is not None and not resume and not file.is_file():  # before a run is recorded
        fail(f"--file {file} " + ("is a directory" if file.is_dir() else "does not exist"), 2)
    if resume and (ignored := flags_given(ctx, STORED_ON_RESUME)):
        warn(f"{', '.join(ignored)} ignored with --resume: the run keeps the settings it "
             "started with (--generations and --reflections apply)")
    if strategy not in ("adas", "evolve"):
        fail(f"--strategy must be adas or evolve, not {strategy!r}", 2)
    if space not in (None, "code", "blocks"):
        fail(f"--space must be code or blocks, not {space!r}", 2)
    if memory not in MEMORY_MODES:
        fail(f"--memory must be one of {', '.join(MEMORY_MODES)}, not {memory!r}", 2)
    move_list = _moves(moves)
    from crib.meta_search.parents import PARENT_METHODS

    if parents not in PARENT_METHODS:
        fail(f"--parents must be {' or '.join(PARENT_METHODS)}, not {parents!r}", 2)
    _precheck(executor, ray_address)
    from crib.meta_search.cascade import CascadePolicy
    from crib.meta_search.search import SearchConfig

    config = SearchConfig(
        domain=domain or "", generations=10 if generations is None else generations,
        val_size=val_size, strategy=strategy,
        memory=None if memory == "none" else memory, meta_memory=meta_memory,
        seeds=[s.strip() for s in seeds.split(",")] if seeds else None, loop=loop,
        concurrency=concurrency, executor=executor, val_seed=seed, archive_tokens=archive_tokens,
        reflections=2 if reflections is None else reflections, moves=move_list,
        parents=parents, demo_samples=demo_samples,
        cascade=CascadePolicy(smoke_problems=smoke, debug_rounds=debug_rounds,
                              minibatch=minibatch, promotion="all" if full else "ucb", seed=seed))
    extra = {"test_size": test_size, "file": str(file.resolve()) if file else None}
    cfg = _config(db, budget_usd, budget_tokens, unsafe=unsafe_no_sandbox)
    # --space was checked above: None, code or blocks.
    config.space = "blocks" if (space or default_space(cfg)) == "blocks" else "code"
    config.demos = (DEFAULT_DEMOS if demos is None else demos) if config.space == "blocks" else 0
    # Compiled configurations cannot have code bugs: their smoke run catches errors (limits,
    # crashes); a wrong answer is the minibatch's matter, not a reason to discard them.
    config.cascade.zero_is_failure = config.space == "code"
    if config.space == "code" and not resume and (unused := flags_given(
            ctx, ("moves", "parents", "demos", "demo_samples"))):
        warn(f"{', '.join(unused)} apply to --space blocks only; ignored in the code space")
    if not resume:
        from crib.meta_search.search import seed_specs

        try:
            seed_specs(config.seeds, config.space)
        except ValueError as exc:
            fail(f"--seeds: {exc}", 2)
    from crib.agents.runs import new_run_id
    from crib.cliutil import print_error

    run_id = resume or new_run_id("search")
    try:
        overrides: dict = {} if generations is None else {"generations": generations}
        if reflections is not None:
            overrides["reflections"] = reflections
        code = asyncio.run(_run(cfg, config, extra, run_id, bool(resume), overrides, json_out,
                                executor, ray_address))
    except KeyboardInterrupt:
        print_error(f"the run is saved. Resume with: crib search --resume {run_id}",
                    "interrupted", "bold yellow")
        code = 130
    raise typer.Exit(code)


async def _run(cfg, config, extra, run_id, resume, overrides, json_out, executor="local",
               ray_address=None) -> int:
    from crib.agents.executors import ExecutorUnavailable
    from crib.cliutil import print_error
    from crib.context import open_context
    from crib.executor_wiring import open_executor

    async with open_context(cfg, run_id=run_id) as ctx:
        try:
            with open_executor(ctx, executor, ray_address) as runner:
                return await _search(ctx, cfg, config, extra, run_id, resume, overrides,
                                     json_out, runner)
        except ExecutorUnavailable as exc:
            print_error(exc)
            return 2


def search_splits(domain, config, extra: dict, test_size: int | None = None):
    """(validation, test, train) of a search: test of the stored size unless given, train
    (`--demos`) drawn apart from both, as the search drew it."""
    from crib.meta_search.splits import make_splits, train_split

    file = extra.get("file")
    validation, test = make_splits(domain, config.val_size, extra.get("test_size", 0),
                                   config.val_seed, file)
    train = train_split(domain, config.demos, validation + test, config.val_seed, file)
    if test_size is not None and test_size != len(test):
        _, test = make_splits(domain, config.val_size, test_size, config.val_seed, file)
    return validation, test, train


async def _search(ctx, cfg, config, extra, run_id, resume, overrides, json_out, runner) -> int:
    from contextlib import AbstractContextManager, nullcontext

    from crib.agents.llm import LLMError
    from crib.cliutil import console, err_console, esc, print_error, print_json
    from crib.meta_search.dashboard import SearchDashboard
    from crib.meta_search.meta_memory import MetaLessons
    from crib.meta_search.search import Search, create_run, load_config, update_config
    from crib.meta_search.splits import SplitError

    if resume:
        try:
            config = load_config(ctx.engine, run_id)
        except KeyError as exc:
            print_error(f"{exc.args[0]} ({cfg.database_url})")
            return 2
        # A resumed run keeps its stored settings; it may run more generations (and,
        # when asked, reflect a different number of times).
        config.generations = overrides.get("generations", config.generations)
        if "reflections" in overrides:
            config.reflections = overrides["reflections"]
        stored = update_config(ctx.engine, run_id, generations=config.generations,
                               reflections=config.reflections)
        extra = stored.get("extra", extra)
    else:
        create_run(ctx.engine, run_id, config, manifest={"models": ctx.model_manifest()})
        update_config(ctx.engine, run_id, extra=extra)
    # Said now, not at the end: a killed run (output piped to a log) can still be resumed.
    err_console().print(f"run {esc(run_id)}: {'resumed' if resume else 'started'} (resume with: "
                        f"crib search --resume {esc(run_id)})", highlight=False, soft_wrap=True)
    domain = ctx.domain(config.domain)
    try:
        validation, _, train = search_splits(domain, config, extra)
    except (SplitError, OSError, ValueError) as exc:
        print_error(exc)
        return 2
    lessons = None
    if config.meta_memory:
        lessons = MetaLessons(ctx.memory_store, f"search:{run_id}:design",
                              ctx.llm.completer("curator", run_id=run_id),
                              domain=config.domain, run_id=run_id)
    from crib.meta_search.archive import Archive

    dash = SearchDashboard(Archive(ctx.engine, run_id))
    search = Search(engine=ctx.engine, llm=ctx.llm, sandbox=ctx.sandbox, domain=domain,
                    validation=validation, config=config, run_id=run_id,
                    memory_factory=lambda scope: ctx.memory_hook(config.memory, scope, run_id),
                    lessons=lessons, observer=dash, executor=runner,
                    train=train if config.space == "blocks" else ())
    live: AbstractContextManager[object] = nullcontext()
    if not json_out and console().is_terminal:
        from rich.live import Live

        live = Live(dash, console=console(), refresh_per_second=2)
    try:
        with live:
            result = await search.run()
    except LLMError as exc:
        print_error(f"{exc}\nResume with: crib search --resume {run_id}")
        return 1
    if json_out:
        print_json(result.model_dump())
    else:
        if not console().is_terminal:
            console().print(dash.render())
        _print_generations(result.generations)
        if result.demonstrations:
            console().print(f"demonstrations: {result.demonstrations} (the best seed's checked "
                            "solutions of training problems)", markup=False, highlight=False)
        best = result.best
        console().print(f"run {run_id}: {result.status}"
                        + (f" ({result.stop_reason})" if result.stop_reason else "")
                        + (f"; selected on validation: #{best['id']} {best['name']} median "
                           f"{best['median']:.3f} [{best['ci_low']:.3f}, {best['ci_high']:.3f}]"
                           if best else ""), markup=False, highlight=False)
        if result.status == "stopped":
            console().print(f"Resume with: crib search --resume {run_id}", markup=False,
                            highlight=False)
    return 0 if result.status in ("done", "stopped") else 1


@app.command("test")
def test_cmd(
    run: str = typer.Argument(..., help="Search run id."),
    top: int = typer.Option(3, "--top", min=1, help="Score the top K agents by validation."),
    test_size: int = typer.Option(
        None, "--test-size", min=1, help="Override the stored test size."),
    db: str = typer.Option(None, "--db", help="Database URL."),
    executor: str = typer.Option("local", "--executor", help="local | ray."),
    ray_address: str = typer.Option(
        None, "--ray-address", help="Ray cluster address (with --executor ray)."),
    unsafe_no_sandbox: bool = typer.Option(False, "--unsafe-no-sandbox"),
    matched: bool = typer.Option(
        True, "--matched/--no-matched",
        help="Also score the best seed with the best-of-n loop at the selected agent's tokens "
             "per problem (costs one more run on the test split)."),
    concurrency: int = typer.Option(
        None, "--concurrency", min=1,
        help="Problems in flight (default: the search's own setting)."),
    json_out: bool = typer.Option(False, "--json", help="Print rows as JSON."),
) -> None:
    """Score the agents chosen on validation on the held-out test split, once, against the
    best seed and (unless --no-matched) the best seed given the same compute.

    Example: crib search test search-20260101-120000-abc123 --top 3
    """
    import asyncio

    _precheck(executor, ray_address)
    cfg = _config(db, unsafe=unsafe_no_sandbox)
    raise typer.Exit(asyncio.run(_score(cfg, run, top, "test", None, None, test_size, json_out,
                                        executor, ray_address, matched=matched,
                                        concurrency=concurrency)))


@app.command("transfer")
def transfer_cmd(
    run: str = typer.Argument(..., help="Search run id."),
    domain: str = typer.Option(None, "--domain", help="Another domain to score the agents on."),
    model: str = typer.Option(None, "--model", help="Another solver model."),
    top: int = typer.Option(3, "--top", min=1, help="The top K agents by validation."),
    size: int = typer.Option(32, "--size", min=1, help="Problems to score on."),
    db: str = typer.Option(None, "--db", help="Database URL."),
    executor: str = typer.Option("local", "--executor", help="local | ray."),
    ray_address: str = typer.Option(
        None, "--ray-address", help="Ray cluster address (with --executor ray)."),
    unsafe_no_sandbox: bool = typer.Option(False, "--unsafe-no-sandbox"),
    concurrency: int = typer.Option(
        None, "--concurrency", min=1,
        help="Problems in flight (default: the search's own setting)."),
    json_out: bool = typer.Option(False, "--json", help="Print rows as JSON."),
) -> None:
    """Re-score the top agents of a search on another domain and/or model.

    Example: crib search transfer search-20260101-120000-abc123 --domain math-numeric --top 2
    """
    import asyncio

    from crib.cliutil import fail

    if not domain and not model:
        fail("give --domain D and/or --model M", 2)
    if domain:
        _check_domain(domain)
    _precheck(executor, ray_address)
    cfg = _config(db, model=model, unsafe=unsafe_no_sandbox)
    raise typer.Exit(asyncio.run(_score(cfg, run, top, "transfer", domain, model, size,
                                        json_out, executor, ray_address,
                                        concurrency=concurrency)))


def _check_domain(name: str) -> None:
    """An unknown domain is a usage error, said before a run is recorded."""
    from crib.agents.domains import UnknownDomain, get_domain
    from crib.cliutil import fail

    try:
        get_domain(name)
    except UnknownDomain as exc:
        fail(str(exc), 2)


def _precheck(executor: str, ray_address: str | None) -> None:
    from crib.agents.executors import ExecutorUnavailable
    from crib.cliutil import fail
    from crib.executor_wiring import precheck

    try:
        precheck(executor, ray_address)
    except ExecutorUnavailable as exc:
        fail(str(exc), 2)


async def _score(cfg, run_id, top, kind, domain_name, model, size, json_out, executor="local",
                 ray_address=None, matched=False, concurrency=None) -> int:
    from crib.agents.loop import LoopPolicy
    from crib.cliutil import print_error, print_json
    from crib.context import open_context
    from crib.meta_search.archive import Archive
    from crib.meta_search.evaluate import Evaluator
    from crib.meta_search.reports import (best_seed, compare_with_seed, matched_baseline, report,
                                          score_split, select_top)
    from crib.meta_search.search import load_config
    from crib.meta_search.splits import SplitError, make_splits

    async with open_context(cfg, run_id=run_id) as ctx:
        try:
            config = load_config(ctx.engine, run_id)
        except KeyError as exc:
            print_error(f"{exc.args[0]} ({cfg.database_url})")
            return 2
        archive = Archive(ctx.engine, run_id)
        extra = archive.require_run().config.get("extra", {})
        chosen = select_top(archive, top)
        seed_entry = best_seed(archive)
        if kind == "test" and seed_entry is not None and seed_entry.id not in {
                e.id for e in chosen}:
            chosen.append(seed_entry)  # the baseline to beat, on the same problems
        if not chosen:
            print_error(f"run {run_id} has no agent scored on validation")
            return 1
        try:
            if kind == "test":
                domain = ctx.domain(config.domain)
                _, problems, train = search_splits(domain, config, extra,
                                                   size or extra.get("test_size") or 64)
                trained = {p.id for p in train}  # a larger --test-size may reach them
                problems = [p for p in problems if p.id not in trained]
                split = "test"
            else:
                domain = ctx.domain(domain_name or config.domain)
                problems, _ = make_splits(domain, size, 0, config.val_seed + 1)
                split = f"transfer:{domain.name}:{model or 'same-model'}"
        except (SplitError, OSError, ValueError) as exc:
            print_error(exc)
            return 2
        from crib.agents.executors import ExecutorUnavailable
        from crib.executor_wiring import open_executor

        baseline = None
        shown = _ScoringProgress(archive, problems, split)
        try:
            with open_executor(ctx, executor, ray_address) as runner, shown.bars:
                async def score(entry, policy: LoopPolicy) -> None:
                    evaluator = Evaluator(archive, domain, ctx.llm, ctx.sandbox, policy=policy,
                                          concurrency=concurrency or config.concurrency,
                                          engine=ctx.engine,
                                          executor=runner)
                    evaluator.on_outcome = shown.outcome
                    shown.start(entry)
                    await score_split(archive, evaluator, [entry], problems, split,
                                      seed=config.cascade.seed)

                # Scored as the search scored them: its loop, unless a configuration names one.
                for entry in chosen:
                    await score(entry, LoopPolicy(kind=config.loop))
                if kind == "test" and matched:
                    baseline = matched_baseline(archive, split, config.loop)
                    scored = {e.id for e in chosen}  # the selected agent may be its own baseline
                    if not isinstance(baseline, str) and baseline[0].id not in scored:
                        await score(baseline[0], LoopPolicy(kind="best-of-n", n=baseline[1]))
        except ExecutorUnavailable as exc:
            print_error(exc)
            return 2
        rows = report(archive, split, k=top)
        comparison = compare_with_seed(archive, split, seed=config.cascade.seed,
                                       matched=baseline) if kind == "test" else None
    if json_out:
        for row in rows:
            print_json(row.model_dump())
        if comparison is not None:
            print_json({"comparison": comparison.model_dump()})
        return 0
    _print_report(rows, split)
    if comparison is not None:
        _print_comparison(comparison)
    return 0


class _ScoringProgress:
    """A bar per agent being scored, on stderr: problems done (resumed ones included), solved,
    tokens; a line per problem when stderr is not a terminal (a log). An hour of `crib search
    test` should not look like a hang."""

    def __init__(self, archive, problems, split: str):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)

        from crib.cliutil import err_console

        self.archive, self.split = archive, split
        self.ids = {p.id for p in problems}
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[stats]}"), TimeElapsedColumn(),
                             console=err_console(), transient=False,
                             disable=not err_console().is_terminal)
        self.tasks: dict[int, Any] = {}

    def _tally(self, entry_id: int) -> tuple[int, str]:
        done = [o for pid, o in self.archive.evaluations(entry_id, self.split).items()
                if pid in self.ids]
        solved = sum(o.score for o in done)
        tokens = sum(o.tokens_in + o.tokens_out for o in done)
        return len(done), f"solved {solved:g}, tokens {tokens:,}"

    def start(self, entry) -> None:
        self._show(entry, add=True)

    def outcome(self, entry, split: str, outcome) -> None:
        self._show(entry)

    def _show(self, entry, add: bool = False) -> None:
        from crib.cliutil import err_console, esc

        done, stats = self._tally(entry.id)
        name = esc(f"{self.split} #{entry.id} {entry.name}"[:60])
        if self.bars.disable:
            err_console().print(f"{name}: {done}/{len(self.ids)}, {stats}", highlight=False)
        elif add:
            self.tasks[entry.id] = self.bars.add_task(name, total=len(self.ids), completed=done,
                                                      stats=stats)
        else:
            self.bars.update(self.tasks[entry.id], completed=done, stats=stats)


def _print_generations(rows: list[dict]) -> None:
    """Per generation: proposals that passed the smoke run, best validation fitness, spend."""
    if not rows:
        return
    from rich.table import Table

    from crib.cliutil import console

    t = Table(title="Generations")
    for col in ("gen", "proposals", "passed smoke", "unusable replies", "best val", "tokens",
                "cost $"):
        t.add_column(col, justify="right")
    for r in rows:
        share = f" ({r['passed_smoke'] / r['proposals']:.0%})" if r["proposals"] else ""
        t.add_row(str(r["generation"]), str(r["proposals"]), f"{r['passed_smoke']}{share}",
                  str(r["unusable_replies"]),
                  "-" if r["best_validation"] is None else f"{r['best_validation']:.3f}",
                  "-" if r["tokens"] is None else str(r["tokens"]),
                  "-" if r["cost_usd"] is None else f"{r['cost_usd']:.4f}")
    proposals = sum(r["proposals"] for r in rows)
    passed = sum(r["passed_smoke"] for r in rows)
    console().print(t)
    if proposals:
        console().print(f"{passed} of {proposals} proposals passed the smoke run "
                        f"({passed / proposals:.0%})")


def _print_comparison(c) -> None:
    from crib.cliutil import console, esc

    lines = [f"Selected {c.selected} vs best seed {c.seed} on {c.split} (n={c.n}): "
             f"{c.selected_accuracy:.3f} vs {c.seed_accuracy:.3f}, difference "
             f"{c.difference:+.3f} (paired 95% CI [{c.diff_low:+.3f}, {c.diff_high:+.3f}])",
             f"Search spent {c.search_tokens} tokens; tokens per problem: selected "
             f"{c.selected_tokens_per_problem:.0f}, seed {c.seed_tokens_per_problem:.0f}"]
    if c.break_even_problems is not None:
        lines.append(f"Break-even after {c.break_even_problems:.0f} problems "
                     f"(≈{c.break_even_solved:.0f} more solved than the seed), valuing a solve "
                     "at the seed's tokens per solved problem")
    if c.note:
        lines.append(c.note)
    m = c.matched
    if m is not None:
        lines.append(f"Against the best seed given the same compute, {m.agent} (best-of-"
                     f"{m.samples}, {m.n} problems): "
                     f"{m.selected_accuracy:.3f} vs {m.accuracy:.3f}, difference "
                     f"{m.difference:+.3f} (paired 95% CI [{m.diff_low:+.3f}, "
                     f"{m.diff_high:+.3f}]); its tokens per problem {m.tokens_per_problem:.0f}")
        if m.note:
            lines.append(m.note)
    elif c.matched_note:
        lines.append(c.matched_note)
    for line in lines:
        console().print(esc(line), highlight=False)


def _print_report(rows, split: str) -> None:
    from rich.table import Table

    from crib.cliutil import console, esc

    t = Table(title=esc(f"Validation vs {split} (selection uses validation only)"))
    for col in ("#", "name", "gen", "val median [95% CI]", esc(f"{split} median [95% CI]"),
                "selected"):
        t.add_column(col)

    def fmt(m, lo, hi, n):
        return "-" if m is None else f"{m:.3f} [{lo:.3f}, {hi:.3f}] n={n}"

    for r in rows:  # names come from models: escaped, never read as markup
        t.add_row(str(r.id), esc(r.name), str(r.generation),
                  fmt(r.val_median, r.val_low, r.val_high, r.val_n),
                  fmt(r.other_median, r.other_low, r.other_high, r.other_n),
                  "selected on validation" if r.selected else "")
    console().print(t)
