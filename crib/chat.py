"""`crib chat`: an interactive session with streaming answers, checks, memory and slash commands.

The default agent, `direct`, streams one completion per turn (text only: nothing the model
writes is executed on the host). Any other agent runs in the sandbox through the verifier loop
and shows its final answer. Where the domain has a target-free checker and /verify is on, a
failed check is shown and the answer is retried with the checker's feedback.
"""
from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from crib.cliutil import agent_problem, clean_message, console, esc

if TYPE_CHECKING:
    from crib.context import Context

HELP = """\
/help               this help
/agent NAME         answer with a sandboxed agent (`direct` streams plainly): {agents}
/domain D           game24, equation-balancer, math-numeric, multiple-choice, code-synthesis,
                    arc, drop, free
/memory             show the cheatsheet in use
/verify on|off      check answers where the domain has a checker, and retry on failure
/cost               calls, tokens and cost of this session
/save FILE          save the transcript as Markdown
/quit               leave (Ctrl-D too); Ctrl-C stops the current answer
"""

SYSTEM = ("You are Crib, a careful assistant for reasoning and code. Think briefly, then answer. "
          "Use Markdown; put code in fenced blocks.")
RETRY_ROUNDS = 2


@dataclass
class ChatState:
    agent: str = "direct"
    domain: str = "free"
    memory_mode: str = "dc-cu"
    scope: str = "chat"
    verify: bool = True
    history: list[dict[str, str]] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)
    turn: int = 0


class ChatSession:
    def __init__(self, ctx: Context, state: ChatState, run_id: str) -> None:
        self.ctx = ctx
        self.state = state
        self.run_id = run_id
        self.out = console()
        self.last_sheet = ""

    # -- slash commands ------------------------------------------------------------------
    async def command(self, line: str) -> bool:
        """Handle a /command; False means quit."""
        from crib.agents.library import agent_names

        name, _, arg = line[1:].partition(" ")
        arg = arg.strip()
        st = self.state
        if name in ("quit", "exit", "q"):
            return False
        if name == "help":
            self.out.print(HELP.format(agents=", ".join(["direct", *agent_names()])),
                           highlight=False)
        elif name == "agent":
            problem = None if arg == "direct" else agent_problem(arg)
            if problem:
                self.out.print(f"[red]{clean_message(problem)}[/]; try /help", highlight=False)
            else:
                st.agent = arg
                self.out.print(f"agent: [bold]{esc(arg)}[/]", highlight=False)
        elif name == "domain":
            try:
                self.ctx.domain(arg)
            except KeyError as exc:
                self.out.print(f"[red]{clean_message(exc)}[/]", highlight=False)
            else:
                st.domain = arg
                self.out.print(f"domain: [bold]{esc(arg)}[/]", highlight=False)
        elif name == "memory":
            sheet = self.last_sheet or "(empty: nothing rendered yet in this session)"
            self.out.print(f"[bold]cheatsheet[/] (mode {esc(st.memory_mode)}, "
                           f"scope {esc(st.scope)}):\n{esc(sheet)}", highlight=False)
        elif name == "verify":
            if arg not in ("on", "off"):
                self.out.print("[red]use /verify on or /verify off[/]")
            else:
                st.verify = arg == "on"
                self.out.print(f"verify: {arg}")
        elif name == "cost":
            s = self.ctx.llm.spend(self.run_id)
            self.out.print(f"calls {s.calls} ({s.cached_calls} cached), tokens in {s.tokens_in}, "
                           f"out {s.tokens_out}, cost ${s.cost_usd:.4f}")
        elif name == "save":
            if not arg:
                self.out.print("[red]use /save FILE[/]")
            else:
                self._save(Path(arg))
        else:
            self.out.print(f"[red]unknown command /{esc(name)}[/]; try /help", highlight=False)
        return True

    def _save(self, path: Path) -> None:
        """Write the transcript; a path that cannot be written is said and the session goes on."""
        transcript = self.state.transcript
        try:
            path.write_text("\n\n".join(transcript) + "\n", encoding="utf-8")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            self.out.print(f"[red]cannot save to {esc(path)}:[/] {esc(reason)} (nothing lost: "
                           "try /save with another path)", highlight=False)
            return
        self.out.print(f"saved {len(transcript)} messages to {esc(path)}", highlight=False)

    # -- answering -------------------------------------------------------------------------
    def _problem(self, text: str):
        from crib.agents.problems import Problem

        self.state.turn += 1
        return Problem(id=f"{self.run_id}-{self.state.turn}", input=text)

    async def ask(self, text: str) -> None:
        st = self.state
        st.transcript.append(f"**you:** {text}")
        domain = self.ctx.domain(st.domain)
        problem = self._problem(text)
        hook = (self.ctx.memory_hook(st.memory_mode, st.scope, self.run_id)
                if st.memory_mode != "none" else None)
        if st.agent == "direct":
            outcome = await self._direct(problem, domain, hook)
            if hook is not None:
                with self.out.status("updating the cheatsheet…"):
                    await hook.after(problem, outcome)
        else:  # the verifier loop calls the hook before and after the problem itself
            await self._agent(problem, domain, hook)
        if hook is not None:
            self.last_sheet = hook.last_sheet

    async def _direct(self, problem, domain, hook):
        """Stream an answer; check it where the domain can; retry with the checker's feedback."""
        from rich.live import Live
        from rich.markdown import Markdown
        from rich.spinner import Spinner

        from crib.agents.loop import ProblemOutcome
        from crib.agents.prompt_sheet import Sheet

        sheet = await hook.prepare(problem) if hook is not None else Sheet()
        system = SYSTEM
        if domain.answer_format:
            system += "\n\n" + domain.answer_format
        if sheet.text:
            system += ("\n\nCHEATSHEET (strategies and lessons from earlier problems):\n"
                       + sheet.text)
        user = domain.render(problem)
        asked = user + (f"\n\n{sheet.note}" if sheet.note else "")  # the note is this turn's
        messages = [{"role": "system", "content": system}, *self.state.history[-12:],
                    {"role": "user", "content": asked}]
        verdicts = []
        text = ""
        for round_ in range(RETRY_ROUNDS + 1):
            text = ""
            # A spinner until the first piece arrives: a slow model is waiting, not stuck.
            waiting = Spinner("dots", text="thinking…", style="dim")
            with Live(waiting, console=self.out, refresh_per_second=12, transient=False) as live:
                async for piece in self.ctx.llm.stream(messages, role="solver", attempt=round_,
                                                       run_id=self.run_id):
                    text += piece
                    live.update(Markdown(text))
                if not text:  # an empty reply: no spinner left on the screen
                    live.update(Markdown(""))
            if not (self.state.verify and domain.has_checker):
                break
            verdict = await domain.check(problem, domain.extract(text))
            verdicts.append(verdict)
            mark = "[green]✓ passed[/]" if verdict.passed else "[red]✗ failed[/]"
            self.out.print(f"{mark} {esc(verdict.verifier)}: {clean_message(verdict.feedback)}",
                           highlight=False)
            if verdict.passed or round_ == RETRY_ROUNDS:
                break
            messages += [{"role": "assistant", "content": text},
                         {"role": "user",
                          "content": f"A checker found a problem: {verdict.feedback}\n"
                                     "Please correct your answer."}]
        self.state.history += [{"role": "user", "content": user},
                               {"role": "assistant", "content": text}]
        self.state.transcript.append(f"**crib:** {text}")
        answer = domain.extract(text) if domain.has_checker else text
        passed = verdicts[-1].passed if verdicts else None
        return ProblemOutcome(problem_id=problem.id, answer=answer, passed=passed,
                              verdicts=verdicts, agent_name="direct")

    async def _agent(self, problem, domain, hook):
        from rich.markdown import Markdown

        from crib.agents.library import load_agent
        from crib.agents.loop import LoopPolicy, SolveContext, solve_problem

        spec = load_agent(self.state.agent)
        policy = LoopPolicy(kind="retry" if self.state.verify and domain.has_checker else "single",
                            k=RETRY_ROUNDS + 1)
        solve_ctx = SolveContext(llm=self.ctx.llm, sandbox=self.ctx.sandbox, run_id=self.run_id,
                                 memory=hook, engine=self.ctx.engine)
        with self.out.status(f"{esc(spec.name)} is working in the sandbox…"):
            outcome = await solve_problem(problem, domain, spec, solve_ctx, policy)
        if outcome.error:
            self.out.print(f"[red]error:[/] {clean_message(outcome.error)}", highlight=False)
        else:
            self.out.print(Markdown(str(outcome.answer)))
        for v in outcome.verdicts:
            mark = "[green]✓[/]" if v.passed else ("[red]✗[/]" if v.passed is False else "?")
            self.out.print(f"{mark} {esc(v.verifier)}: {clean_message(v.feedback)}",
                           highlight=False)
        self.state.transcript.append(f"**crib ({spec.name}):** {outcome.answer}")
        return outcome


async def run_chat(ctx: Context, state: ChatState, run_id: str, history_file: Path) -> None:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    history_file.parent.mkdir(parents=True, exist_ok=True)
    prompt: PromptSession[str] = PromptSession(history=FileHistory(str(history_file)))
    session = ChatSession(ctx, state, run_id)
    out = session.out
    out.print(f"[bold]crib chat[/] — agent {esc(state.agent)}, domain {esc(state.domain)}, "
              f"memory {esc(state.memory_mode)} (scope {esc(state.scope)}). /help for commands, "
              "/quit to leave.", highlight=False)
    loop = asyncio.get_running_loop()
    while True:
        try:
            line = (await prompt.prompt_async("you> ")).strip()
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line
        except EOFError:
            break
        if not line:
            continue
        if line.startswith("/"):
            if not await session.command(line):
                break
            continue
        task = asyncio.ensure_future(session.ask(line))
        loop.add_signal_handler(signal.SIGINT, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            out.print("[yellow]stopped[/] (the session goes on)")
        except Exception as exc:  # an endpoint error must not end the session
            out.print(f"[red]error:[/] {type(exc).__name__}: {clean_message(exc)}", highlight=False)
        finally:
            loop.remove_signal_handler(signal.SIGINT)
    out.print("bye")
