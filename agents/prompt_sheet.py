"""The sheet reaches the model, whatever the agent: the rendered memory of an attempt goes into
its solver calls, and only the entries that were in a prompt count as used.

An agent that reads `cheatsheet` and places it itself (dc-generator puts it in its user turn)
is left alone: a call whose messages already hold the sheet is sent as it is. Every other
solver call gets the sheet first, at the head of the system message (a new one when there is
none): the same prefix for every call of the attempt, so the model server's prompt cache
keeps it. Rendered entries carry their ids (`[m-...]`), and an
entry counts as shown when its id is in a message the attempt sent (dc-rs's synthesis keeps
the ids of the entries it drew on, so the same rule holds there).
"""
from __future__ import annotations

SHEET_ROLES = ("solver",)  # judge calls are verdicts on an answer, not attempts to solve


class PromptSheet:
    """One attempt's rendered memory (`text`, "" for none) and the ids of its entries."""

    def __init__(self, text: str = "", entry_ids: list[str] | None = None) -> None:
        self.text = text.strip()
        self.entry_ids = list(entry_ids or [])
        self._shown: set[str] = set()

    def place(self, messages: list[dict], role: str) -> list[dict]:
        """The messages to send for one call (the sheet first when a solver call lacks it),
        noting which entries they show."""
        if self.text and role in SHEET_ROLES and not any(
                self.text in str(m.get("content", "")) for m in messages):
            messages = sheet_first(messages, self.text)
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
