"""The designer's prompt: the parents, their failures and the design lessons, within a token
budget that fits a small local model's context (the least useful parts go first: lessons, then
failures beyond the first, then the second parent's failures)."""
from __future__ import annotations

from collections.abc import Sequence

from crib.meta_search.archive import Entry
from crib.meta_search.blocks import PARAMS, BlockConfig, describe
from crib.meta_search.parents import Parent, fitness_of
from crib.meta_search.skeletons import SKELETONS
from crib.meta_search.strategies import approx_tokens

DESIGNER_MARK = "You improve an agent by one small edit"
SYSTEM = (f"{DESIGNER_MARK}. An agent is a fixed control flow (its skeleton) whose "
          "instructions and settings you may change. Reply with one JSON object and nothing "
          "else.")

MOVES = {
    "rewrite": (
        'Rewrite the "{slot}" instruction of parent A so that the agent avoids failures like '
        'the ones shown. First say in "diagnosis" what went wrong and why (one or two '
        'sentences), then give the complete new text in "instruction". Keep it general: it '
        "must help on every problem of this kind, not only the ones shown, and must not "
        "contain the answer to any problem.\nCurrent text: {current!r}\n"
        'Reply with JSON: {{"diagnosis": "...", "instruction": "..."}}'),
    "change": (
        "Change the {slot} of parent A: {about}. The values you may choose (the current one "
        "and those already tried are left out):\n{options}\n"
        'Say in "why" how the new value helps on the failed problems, then give it in '
        '"value".\nReply with JSON: {{"why": "...", "value": "<one of the values>"}}'),
    "cross": (
        "Combine parent A and parent B: say which parent each part comes from. "
        '"skeleton_from": the control flow; "instructions_from": the instruction texts (where '
        'the skeletons share a slot); "settings_from": temperature, samples, rounds, loop, '
        "memory.\n"
        'Reply with JSON: {{"why": "...", "skeleton_from": "A" or "B", '
        '"instructions_from": "A" or "B", "settings_from": "A" or "B"}}'),
}


ABOUT = {
    "skeleton": "its control flow; a new one starts from that seed's instructions",
    "temperature": "the sampling temperature of its model calls (lower is steadier, higher "
                   "more varied)",
    "samples": "how many answers it samples",
    "rounds": "how many rounds of critique, revision or debate it runs",
    "loop": "what Crib does with the checker around the agent",
    "memory": "where the notes kept from earlier problems go",
    "examples": "how many solved examples go before the task (other problems of this kind, "
                "each with a reply that was checked correct)",
}
MEANING = {
    "single": "one try",
    "retry": "the checker's feedback goes back to the agent for another try",
    "best-of-n": "several tries, the best-checked answer wins",
    "vote": "several tries, the majority answer wins",
    "system": "in the system message",
    "prompt": "before the task",
    **{name: s.idea for name, s in SKELETONS.items()},
}


def change_options(values: Sequence[str]) -> str:
    """The values a change move may choose, with what each means where that needs saying."""
    return "\n".join(f'- "{v}": {MEANING[v]}' if v in MEANING else f'- "{v}"' for v in values)


TRIED_SHOWN = 4  # a parent's latest children in its block


def edit_of(parent: BlockConfig, child: BlockConfig) -> str:
    """What a child changed from its parent, in a few words."""
    parts = [f"skeleton {child.skeleton}"] if child.skeleton != parent.skeleton else []
    parts += [f"{p} {getattr(child, p)}" for p in PARAMS
              if getattr(child, p) != getattr(parent, p)]
    if child.skeleton == parent.skeleton:
        parts += [f'{slot}: "{text[:160]}"' for slot, text in child.instructions.items()
                  if text != parent.instructions.get(slot)]
    return "; ".join(parts) or "no change"


def result_of(entry: Entry) -> str:
    if entry.score("validation") is not None:
        return f"validation accuracy {entry.score('validation'):.2f}"
    if (fit := fitness_of(entry)) is not None:
        return f"stopped early, accuracy {fit:.2f} on the first problems"
    return f"{entry.status}: {(entry.reason or '')[:100]}"


def parent_block(label: str, parent: Parent, failures: list[dict],
                 tried: Sequence[tuple[Entry, BlockConfig]] = ()) -> tuple[str, str]:
    """(the parent's description with the edits already tried from it, its failures) as prompt
    text. Without the tried edits a designer shown the same parent again repeats itself."""
    c = parent.config
    lines = [f"# Parent {label}: #{parent.entry.id} {parent.entry.name}: {describe(c)}; "
             f"validation accuracy {parent.fitness:.2f}",
             f"Its skeleton: {SKELETONS[c.skeleton].idea}.", "Its instructions:"]
    lines += [f'- {slot}: "{text}"' for slot, text in c.instructions.items()]
    if tried:
        lines.append("Edits already tried from it (try something different):")
        lines += [f"- {edit_of(c, config)} -> {result_of(child)}"
                  for child, config in tried[-TRIED_SHOWN:]]
    fails = []
    for i, f in enumerate(failures, 1):
        did = (f"\n   How it got there, {f['trace']}" if f.get("trace") else "")
        fails.append(f"{i}. Task: {f['task'][:400]}\n   Its answer: {f['answer'][:300]}\n"
                     f"   Checker: {f['feedback'][:300]}{did}")
    failed = ("Problems it failed (task, its answer, what the checker said, how it got there):\n"
              + "\n".join(fails) + "\n") if fails else ""
    return "\n".join(lines) + "\n", failed


def build_messages(move: str, slot: str | None, parents: list[Parent],
                   failures: dict[int, list[dict]], lessons: str, *, domain: str,
                   description: str, answer_format: str, token_budget: int,
                   previous: str | None = None,
                   tried: dict[int, list[tuple[Entry, BlockConfig]]] | None = None,
                   values: Sequence[str] = (), note: str = "") -> list[dict]:
    """The designer's messages for one move; `slot` is the instruction a rewrite rewrites or
    the setting a change sets, `values` the change's choices, `note` why this move."""
    used = parents[:2] if move == "cross" else parents[:1]
    head = (f'The agent solves problems of the domain "{domain}": {description or domain}\n'
            f"Answer format the agent must produce: {answer_format or '(as the task says)'}\n\n")
    a = used[0].config
    task = MOVES[move].format(slot=slot, current=a.instructions.get(slot or "", ""),
                              about=ABOUT.get(slot or "", ""), options=change_options(values))
    task = f"{note}\n{task}" if note else task
    if previous:
        task += f"\nYour previous reply was rejected: {previous[:300]}. Do something else."
    lesson_text = f"# Design lessons so far\n{lessons.strip()}\n" if lessons.strip() else ""
    # Shed the least useful parts until the prompt fits.
    keep_failures = [len(failures.get(p.entry.id, [])) for p in used]
    while True:
        body = ""
        for label, p, k in zip("AB", used, keep_failures):
            desc, failed = parent_block(label, p, failures.get(p.entry.id, [])[:k],
                                        (tried or {}).get(p.entry.id, []))
            body += desc + failed + "\n"
        text = head + body + lesson_text + "# Your move\n" + task
        if approx_tokens(SYSTEM + text) <= token_budget:
            break
        if lesson_text:
            lesson_text = ""
        elif len(keep_failures) > 1 and keep_failures[-1] > 0:
            keep_failures[-1] -= 1
        elif keep_failures[0] > 1:
            keep_failures[0] -= 1
        else:
            break  # parents and the move alone: send what is left
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
