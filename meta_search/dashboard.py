"""The live view of a search: leaderboard, current candidate and stage, spend by role, errors.

`SearchDashboard` is a `SearchObserver`: the driver tells it what happens, it keeps a snapshot
(read from the archive on stage changes, never while Rich renders) and `render()` builds the
Rich renderable. `crib search` shows it with `rich.live.Live`; tests print it to a recording
console.
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from crib.meta_search.archive import Archive, Entry
from crib.meta_search.records import TRAIN_SPLIT

if TYPE_CHECKING:
    from crib.agents.llm import LedgerSpend

TRAINING = "training problems, for demonstrations"
STATUS_STYLE = {"evaluated": "green", "minibatch": "yellow", "smoke_failed": "red",
                "rejected": "red", "proposed": "cyan"}


class SearchDashboard:
    def __init__(self, archive: Archive, rows: int = 12):
        self.archive = archive
        self.rows = rows
        self.entries: list[Entry] = archive.entries()
        self.current: Entry | None = None
        self.stage_name = "starting"
        self.gen, self.total = 0, 0
        self.done_in_stage = 0
        self.errors: deque[str] = deque(maxlen=6)
        self.by_role: dict[str, Any] = {}
        self.total_cost = 0.0
        self.total_tokens = 0

    # -- observer ----------------------------------------------------------------------------
    def stage(self, entry: Entry, stage: str) -> None:
        self.current, self.stage_name, self.done_in_stage = entry, stage, 0
        self.entries = self.archive.entries()

    def outcome(self, entry: Entry, split: str, outcome: Any) -> None:
        if split == TRAIN_SPLIT and self.stage_name != TRAINING:  # no cascade stage of its own
            self.current, self.stage_name, self.done_in_stage = entry, TRAINING, 0
        self.done_in_stage += 1

    def error(self, message: str) -> None:
        self.errors.append(message)

    def generation(self, generation: int, total: int) -> None:
        self.gen, self.total = generation, total

    def spend(self, spend: LedgerSpend) -> None:
        self.by_role = {r: s for r, s in spend.by_role.items()}
        self.total_cost, self.total_tokens = spend.cost_usd, spend.tokens_in + spend.tokens_out

    # -- rendering ---------------------------------------------------------------------------
    def leaderboard(self) -> Table:
        t = Table(title="Archive (selection uses validation only)", expand=True)
        numeric = ("#", "gen", "val median")
        for col in ("#", "name", "gen", "val median", "95% CI", "n", "status"):
            t.add_column(col, justify="right" if col in numeric else "left")

        def key(e: Entry):
            v = e.val
            mb = e.fitness.get("minibatch")
            return (v is None, -(v.median if v else (mb.median if mb else -1)), e.id)

        for e in sorted(self.entries, key=key)[: self.rows]:
            f = e.val or e.fitness.get("minibatch")
            tag = "" if e.val or not f else " (mb)"
            t.add_row(str(e.id), Text(e.name[:40]), str(e.generation),  # a model's name: text
                      f"{f.median:.3f}{tag}" if f else "-",
                      f"[{f.ci_low:.2f}, {f.ci_high:.2f}]" if f else "-", str(f.n) if f else "-",
                      Text(e.status, style=STATUS_STYLE.get(e.status, "")))
        return t

    def status_line(self) -> Text:
        name = f"{self.current.name} (#{self.current.id})" if self.current else "-"
        return Text.assemble(("generation ", "bold"), f"{self.gen}/{self.total}  ",
                             ("candidate ", "bold"), name, "  ", ("stage ", "bold"),
                             f"{self.stage_name} ({self.done_in_stage} problems done)")

    def spend_table(self) -> Table:
        t = Table(title=f"Spend: ${self.total_cost:.4f}, {self.total_tokens:,} tokens",
                  expand=True)
        for col in ("role", "calls", "cached", "tokens", "cost $"):
            t.add_column(col)
        for role in ("meta", "solver", "curator", "judge"):
            s = self.by_role.get(role)
            if s is not None:
                t.add_row(role, str(s.calls), str(s.cached_calls),
                          f"{s.tokens_in + s.tokens_out:,}", f"{s.cost_usd:.4f}")
        return t

    def render(self) -> Panel:
        parts: list[Any] = [self.status_line(), self.leaderboard(), self.spend_table()]
        if self.errors:
            parts.append(Text("Errors:\n" + "\n".join(f"- {m[:200]}" for m in self.errors),
                              style="red"))
        return Panel(Group(*parts), title=Text(f"crib search {self.archive.run_id}"))

    def __rich__(self) -> Panel:
        return self.render()
