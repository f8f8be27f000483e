"""`crib chat`: an interactive terminal session."""
from __future__ import annotations

import typer


def chat(
    agent: str = typer.Option(
        "direct", "--agent", help="`direct` (streamed) or a seed agent / agent file run in the "
                                  "sandbox."),
    domain: str = typer.Option(
        "free", "--domain", help="Domain whose answer format and checker apply."),
    memory: str = typer.Option(None, "--memory", help="Memory mode (default: config memory.mode)."),
    scope: str = typer.Option("chat", "--scope", help="Memory scope; it persists across sessions."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Start with /verify off."),
    unsafe_no_sandbox: bool = typer.Option(
        False, "--unsafe-no-sandbox", help="Run agent code without isolation (dangerous)."),
) -> None:
    """Talk to Crib in the terminal: streamed Markdown answers, checks, memory, slash commands.

    Type /help inside for the commands (/agent, /domain, /memory, /verify, /cost, /save, /quit).

    Example: crib chat --domain game24 --memory dc-cu
    """
    import asyncio

    from crib.agents.runs import new_run_id
    from crib.chat import ChatState, run_chat
    from crib.agents.domains import UnknownDomain, get_domain
    from crib.cliutil import agent_problem, config_or_fail, fail
    from crib.context import open_context, start_sandbox

    from crib.commands.solve import MEMORY_MODES

    if agent != "direct" and (problem := agent_problem(agent)):
        fail(problem, 2)
    if memory is not None and memory not in MEMORY_MODES:
        fail(f"--memory must be one of {', '.join(MEMORY_MODES)}, not {memory!r}", 2)
    try:
        get_domain(domain)
    except UnknownDomain as exc:
        fail(str(exc), 2)
    flags = {"sandbox": {"unsafe_no_sandbox": True}} if unsafe_no_sandbox else {}
    cfg, _ = config_or_fail(flags)
    state = ChatState(agent=agent, domain=domain, memory_mode=memory or cfg.memory.mode,
                      scope=scope, verify=not no_verify)

    async def main() -> None:
        run_id = new_run_id("chat")
        sandbox = start_sandbox(cfg, agent_runs=1)  # one answer at a time
        async with open_context(cfg, run_id=run_id, sandbox=sandbox) as ctx:
            from crib.agents.runs import RunStore, base_manifest

            RunStore(ctx.engine).create(run_id, "chat", base_manifest(models=ctx.model_manifest()))
            await run_chat(ctx, state, run_id, cfg.data_dir / "chat_history")
            RunStore(ctx.engine).set_status(run_id, "done",
                                            {"spend": ctx.llm.spend(run_id).model_dump()})

    asyncio.run(main())


app = chat
