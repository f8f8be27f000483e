"""The sheet reaches the model, whatever the agent: the rendered memory of an attempt goes into
its solver calls, and only the entries that were in a prompt count as used.

Memory gives a problem two parts (`Sheet`). The rendered entries are the same from problem to
problem, so they go first, where the model server's prompt cache keeps them. The note is about
this problem alone (the skills called on its own inputs); it goes after the problem, at the end
of the first user message, where a small model reads it last. Placed at the end of the system
message instead, the 1.5B model imported the skill and then wrote its own search.

An agent that reads `cheatsheet` and places it itself (dc-generator puts it in its user turn)
is left alone: a call whose messages already hold the sheet is sent as it is. Every other
solver call gets the sheet first, at the head of the system message (a new one when there is
none): the same prefix for every call of the attempt, so the model server's prompt cache
keeps it. Rendered entries carry their ids (`[m-...]`), and an
entry counts as shown when its id is in a message the attempt sent (dc-rs's synthesis keeps
the ids of the entries it drew on, so the same rule holds there).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SHEET_ROLES = ("solver",)  # judge calls are verdicts on an answer, not attempts to solve


@dataclass
class Sheet:
    """What memory gives one problem: the rendered entries (`text`), the note about this
    problem (`note`), the ids of the entries in them and the sheet's version."""
    text: str = ""
    entry_ids: list[str] = field(default_factory=list)
    version: Any = None
    note: str = ""

    def whole(self) -> str:
        """Both parts, for whoever shows the sheet or places it in one prompt (chat)."""
        return "\n\n".join(t for t in (self.text.strip(), self.note.strip()) if t)


class PromptSheet:
    """One attempt's memory as its calls send it: the sheet, its note, the ids of its entries."""

    def __init__(self, sheet: Sheet | None = None) -> None:
        sheet = sheet or Sheet()
        self.text, self.note = sheet.text.strip(), sheet.note.strip()
        self.entry_ids = list(sheet.entry_ids)
        self._shown: set[str] = set()

    def place(self, messages: list[dict], role: str) -> list[dict]:
        """The messages to send for one call (for a solver call, the sheet first and the note
        after the problem, each unless the messages hold it already), noting which entries
        they show."""
        if role in SHEET_ROLES:
            if self.text and not _holds(messages, self.text):
                messages = sheet_first(messages, self.text)
            if self.note and not _holds(messages, self.note):
                messages = note_after_problem(messages, self.note)
        if self.entry_ids:
            sent = "\n".join(str(m.get("content", "")) for m in messages)
            self._shown.update(i for i in self.entry_ids if i in sent)
        return messages

    def shown(self) -> list[str]:
        """The entries that were in at least one prompt so far, in render order."""
        return [i for i in self.entry_ids if i in self._shown]


def sheet_first(messages: list[dict], sheet: str) -> list[dict]:
    """`messages` with `sheet` at the head of the first system message (or in a new one)."""
    if messages and messages[0].get("role") == "system":
        head = {"role": "system", "content": f"{sheet}\n\n{messages[0].get('content', '')}"}
        return [head, *messages[1:]]
    return [{"role": "system", "content": sheet}, *messages]


def note_after_problem(messages: list[dict], note: str) -> list[dict]:
    """`messages` with `note` at the end of the first user message (the problem's), so every
    turn of a conversation keeps the same prefix; a new user message when there is none."""
    for i, m in enumerate(messages):
        if m.get("role") == "user" and isinstance(m.get("content"), str):
            return [*messages[:i], {**m, "content": f"{m['content']}\n\n{note}"},
                    *messages[i + 1:]]
    return [*messages, {"role": "user", "content": note}]


def _holds(messages: list[dict], text: str) -> bool:
    return any(text in str(m.get("content", "")) for m in messages)
