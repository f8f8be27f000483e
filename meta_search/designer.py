"""The designer of the building-block space: one small move per call, as JSON under a schema.

Small models do not write working agent code and break free-form JSON, so the designer is
asked for one narrow edit of a parent configuration (GEPA/MASS-style), with a schema the
endpoint can enforce:

- `rewrite`: read the parent's failed validation problems (task, answer, the checker's
  feedback), say what went wrong, and rewrite one instruction slot;
- `change`: set one block or parameter (skeleton, temperature, samples, rounds, loop, memory):
  Crib picks which, and the schema lists only the values that make a configuration not yet
  archived, so every reply is a valid, new change;
- `cross`: take the skeleton, the instructions and the settings each from one of two parents.

When parent A came from its own parent by changing one setting, and that raised validation
fitness, the move is a change of that setting again (a local sweep): the values next to the
new one for a number, the others for a choice. Every gain measured so far came from one
setting's value (the loop), and the 1.5B designer, asked once, picked among a loop's values
without telling them apart: on Game of 24 it kept `retry` when `best-of-n` was 20 points better.
When the run has demonstrations and parent A shows none, the move is a change of how many it
shows, once per parent.

The search picks the move kind and the slot or setting (seeded by generation), so the model
fills one short schema. A reply that is not valid JSON, is cut off, sets an impossible value
or nearly repeats an archived configuration is recorded with its reason and asked again (the
rejection is quoted to the model), up to `attempts` calls; every call counts against the run's
budget.
"""
from __future__ import annotations

import difflib
import random
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Literal, Sequence, TypeVar

from pydantic import BaseModel, Field, ValidationError, create_model

from crib.agents.llm.errors import StructuredOutputError
from crib.meta_search.blocks import (PARAMS, BlockConfig, Example, compile_agent, describe,
                                     near_duplicate, seed_config, settable)
from crib.meta_search.designer_prompt import build_messages
from crib.meta_search.parents import Parent
from crib.meta_search.skeletons import SKELETONS

if TYPE_CHECKING:
    from crib.agents.llm import LLM
    from crib.meta_search.archive import Entry

# Change moves are every improvement measured so far (a loop policy on the equation balancer);
# the 1.5B designer's rewrites have not yet beaten their parent (docs/search.md).
MOVE_WEIGHTS = {"rewrite": 0.45, "change": 0.4, "cross": 0.15}


# Lengths are capped in the schema so a grammar-constrained endpoint (llama.cpp) ends each
# string in time: a 0.5B designer looped inside one until max_tokens cut the reply. At worst a
# character is a token (digits are), so the caps plus the JSON stay under MAX_REPLY_TOKENS.
WHY_CHARS, REWRITE_CHARS, MAX_REPLY_TOKENS = 200, 600, 900


class RewriteReply(BaseModel):
    diagnosis: str = Field(description="what went wrong on the failed problems, and why",
                           max_length=WHY_CHARS)
    instruction: str = Field(description="the complete new instruction text",
                             max_length=REWRITE_CHARS)


class ChangeReply(BaseModel):
    why: str = Field(description="why this change should help", max_length=WHY_CHARS)
    value: str = Field(description="the new value", max_length=40)


def change_reply(values: Sequence[str]) -> type[ChangeReply]:
    """The change move's schema with `value` limited to `values`. Left free, the 1.5B designer
    chose the current value, the seed it started from, or quoted the option list."""
    return create_model("ChangeReply", __base__=ChangeReply,
                        value=(Literal[tuple(values)],  # type: ignore[valid-type,arg-type]
                               Field(description="the new value")))


class CrossReply(BaseModel):
    why: str = Field(description="why this combination should help", max_length=WHY_CHARS)
    skeleton_from: Literal["A", "B"]
    instructions_from: Literal["A", "B"]
    settings_from: Literal["A", "B"]


REPLIES: dict[str, type[BaseModel]] = {"rewrite": RewriteReply, "cross": CrossReply}


@dataclass
class Design:
    """The designer's result for one generation: a configuration, or None and the reasons."""

    move: str
    slot: str | None
    parents: list[Parent]  # the ones the move uses (two for a cross)
    config: BlockConfig | None = None
    thought: str = ""
    trace: list[dict] = field(default_factory=list)  # one note per reply, with its verdict
    examples: Sequence[Example] = ()  # the run's demonstrations, for `code`

    @property
    def rejected(self) -> list[dict]:
        return [t for t in self.trace if "reason" in t]

    @property
    def name(self) -> str:
        return f"{self.move}-{self.config.skeleton}" if self.config else "unusable"

    def code(self) -> str:
        if self.config is None:
            raise ValueError(f"design {self.name!r} has no configuration to compile")
        return compile_agent(self.config, self.thought, self.examples)


def plan_move(generation: int, parents: list[Parent], seed: int = 0,
              moves: Sequence[str] | None = None,
              changes: dict[str, list[str]] | None = None,
              changed: set[str] | None = None,
              sweep: str | None = None) -> tuple[str, str | None]:
    """The move kind (`moves` in turn, else a seeded draw) and its slot: the instruction a
    rewrite rewrites, the setting a change sets (one of `changes`, the settings with values
    left to try, preferring those no child of parent A has `changed` yet). A cross needs two
    parents and a change a value left: else it is a rewrite. A `sweep` setting with values
    left is changed first: it replaces a drawn move, and is the slot of a given change."""
    rng = random.Random(seed * 7_919 + generation)
    changes = changes or {}
    possible = {"rewrite": True, "change": bool(changes), "cross": len(parents) >= 2}
    if moves:
        move = moves[(generation - 1) % len(moves)]
    else:
        kinds = [k for k in MOVE_WEIGHTS if possible[k]]
        move = rng.choices(kinds, [MOVE_WEIGHTS[k] for k in kinds])[0]
    sweeping = sweep is not None and sweep in changes
    if sweeping and not moves:
        move = "change"
    if not possible[move]:
        move = "rewrite"
    if move == "change" and sweeping:
        return move, sweep
    if move == "change":
        # Each setting before any twice: drawn freely, a run's changes of program-of-thought
        # set its rounds, then its skeleton twice, and never its loop (docs/search.md).
        fresh = sorted(set(changes) - (changed or set()))
        return move, rng.choice(fresh or sorted(changes))
    slot = rng.choice(sorted(parents[0].config.instructions)) if move == "rewrite" else None
    return move, slot


def changed_settings(config: BlockConfig, children: Sequence[BlockConfig]) -> set[str]:
    """The settings some child of `config` has set differently: its skeleton (which brings its
    own samples and rounds), else the parameters that differ."""
    out: set[str] = set()
    for child in children:
        if child.skeleton != config.skeleton:
            out.add("skeleton")
        else:
            out |= {p for p in PARAMS if getattr(child, p) != getattr(config, p)}
    return out


@dataclass(frozen=True)
class Sweep:
    """A setting Crib changes first from parent A (again, after a gain; or the examples), and
    why (for the designer's prompt)."""

    setting: str
    why: str


def sweep_of(parent: Parent, pool: Sequence[Parent]) -> Sweep | None:
    """The sweep from `parent`: the one setting its change from its own first parent (in
    `pool`) set, when that change alone raised validation fitness."""
    origin = next((p for p in pool if parent.entry.parents[:1] == [p.entry.id]), None)
    if origin is None or parent.fitness <= origin.fitness:
        return None
    before, after = origin.config, parent.config
    if before.skeleton != after.skeleton or before.instructions != after.instructions:
        return None
    changed = changed_settings(before, [after])
    if len(changed) != 1:
        return None
    name = changed.pop()
    return Sweep(name, f"Parent A's last edit set its {name} to {getattr(after, name)} (it was "
                 f"{getattr(before, name)} in #{origin.entry.id}), and validation accuracy rose "
                 f"from {origin.fitness:.2f} to {parent.fitness:.2f}: try a value next to it.")


def sweep_values(config: BlockConfig, name: str, values: Sequence[str]) -> list[str]:
    """Of the open `values` of `name`, those a sweep tries: for a number the settable values
    next to the current one (one step each way), for a choice all of them."""
    if BlockConfig.model_fields[name].annotation not in (int, float):
        return list(values)
    current, steps = float(getattr(config, name)), settable(name)
    near = [v for v in steps if float(v) < current][-1:] + \
        [v for v in steps if float(v) > current][:1]
    return [v for v in values if v in near]


def open_changes(config: BlockConfig, archived: list[tuple[int, str, BlockConfig]],
                 memory: bool = False, examples: int = 0) -> dict[str, list[str]]:
    """Per setting a change may set, the values that give a configuration nothing archived
    nearly repeats (so neither the current value nor an edit already tried). Only the
    settings the skeleton reads; where the sheet goes only when the search runs with memory,
    how many solved examples are shown only up to the run's `examples`."""
    fields = ["skeleton", "temperature", "loop", *SKELETONS[config.skeleton].uses]
    fields += ["memory"] if memory else []
    fields += ["examples"] if examples else []
    found = {}
    for name in fields:
        values = []
        for value in settable(name):
            if name == "examples" and int(value) > examples:
                continue
            try:
                child = _change(config, name, value)
            except (ValueError, ValidationError):
                continue
            if near_duplicate(child, archived) is None and child != config:
                values.append(value)
        if values:
            found[name] = values
    return found


Reply = TypeVar("Reply", bound=BaseModel)


def _reply_of(move: str, reply: BaseModel, schema: type[Reply]) -> Reply:
    """The reply as the move's schema (the designer asks each move for its own)."""
    if not isinstance(reply, schema):
        raise TypeError(f"a {move} move takes a {schema.__name__}, not {type(reply).__name__}")
    return reply


def apply_move(move: str, reply: BaseModel, parents: list[Parent], slot: str | None
               ) -> BlockConfig:
    """The child configuration; ValueError/ValidationError name what is impossible."""
    a = parents[0].config
    if move == "rewrite":
        if slot is None:
            raise TypeError("a rewrite move needs the instruction slot it rewrites")
        text = _reply_of(move, reply, RewriteReply).instruction
        return BlockConfig(**{**a.model_dump(), "instructions": {**a.instructions, slot: text}})
    if move == "change":
        if slot is None:
            raise TypeError("a change move needs the setting it changes")
        return _change(a, slot, _reply_of(move, reply, ChangeReply).value.strip())
    cross = _reply_of(move, reply, CrossReply)
    b = parents[1].config
    if cross.skeleton_from == cross.instructions_from == cross.settings_from:
        raise ValueError("a cross takes at least one part from each parent (all from "
                         f"{cross.skeleton_from} is parent {cross.skeleton_from} again)")
    pick = {"A": a, "B": b}
    skeleton = pick[cross.skeleton_from].skeleton
    texts = pick[cross.instructions_from].instructions
    settings = pick[cross.settings_from]
    child = seed_config(skeleton)
    return BlockConfig(**{**child.model_dump(),
                          **{p: getattr(settings, p) for p in PARAMS},
                          "instructions": {s: texts.get(s, child.instructions[s])
                                           for s in child.instructions}})


def _change(a: BlockConfig, name: str, value: str) -> BlockConfig:
    if name == "skeleton":
        key = value.lower().strip(" \"'")
        if key not in SKELETONS:
            raise ValueError(f"unknown skeleton {value!r}; known: {', '.join(SKELETONS)}")
        # A new control flow starts from its seed's texts (slots mean different things).
        child = seed_config(key)
        return child.model_copy(update={"temperature": a.temperature, "loop": a.loop,
                                        "memory": a.memory})
    parsers: dict[str, Callable[[str], float | int | str]] = {
        "temperature": float, "samples": lambda v: int(float(v)),
        "rounds": lambda v: int(float(v)), "examples": lambda v: int(float(v))}
    try:
        parsed = parsers.get(name, str.lower)(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    return BlockConfig(**{**a.model_dump(), name: parsed})


def quoted_problem(text: str, failures: list[dict]) -> str | None:
    """The shown task or answer an instruction copies, if any: an instruction tailored to a
    validation problem overfits validation (small designers do this, e.g. "the answer to 3 5 9
    9 is ..."). A copy is a shared run of at least 30 characters, or the whole task or answer
    when shorter (answers under 8 characters are too common to count), or a task's numbers (3
    or more) in a row, whatever stands between them ("1, 2, 5, and 7")."""
    def norm(s: str) -> str:
        return " ".join(s.lower().split())

    mine = norm(text)
    my_numbers = re.findall(r"\d+(?:\.\d+)?", text)
    for f in failures:
        numbers = re.findall(r"\d+(?:\.\d+)?", f["task"])
        if len(numbers) >= 3 and any(my_numbers[i:i + len(numbers)] == numbers
                                     for i in range(len(my_numbers) - len(numbers) + 1)):
            return f"task's numbers {' '.join(numbers)[:60]!r}"
        for kind, other in (("task", norm(f["task"])), ("answer", norm(f["answer"]))):
            if not other or (kind == "answer" and len(other) < 8):
                continue
            m = difflib.SequenceMatcher(None, mine, other, autojunk=False).find_longest_match(
                0, len(mine), 0, len(other))
            if m.size >= min(len(other), 30):
                return f"{kind} {other[:60]!r}"
    return None


def _used(move: str, parents: list[Parent]) -> list[Parent]:
    return parents[:2] if move == "cross" else parents[:1]


def _why_not(exc: Exception) -> str:
    """pydantic's first complaint (field and message) or the ValueError's text."""
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"{where}: {err['msg']}"[:300] if where else err["msg"][:300]
    return str(exc)[:300]


def _why(reply: BaseModel) -> str:
    return str(getattr(reply, "diagnosis", None) or getattr(reply, "why", "")).strip()


class Designer:
    def __init__(self, llm: LLM, *, domain: str, domain_description: str = "",
                 answer_format: str = "", run_id: str | None = None, attempts: int = 3,
                 token_budget: int = 2500, seed: int = 0,
                 max_tokens: int | None = MAX_REPLY_TOKENS,
                 moves: Sequence[str] | None = None, temperature: float = 0.8,
                 memory: bool = False):
        self.llm = llm
        self.temperature = temperature
        self.domain, self.description = domain, domain_description
        self.answer_format = answer_format
        self.run_id, self.attempts = run_id, attempts
        self.token_budget, self.seed, self.max_tokens = token_budget, seed, max_tokens
        self.moves = moves
        self.memory = memory  # the search runs with memory: where the sheet goes can change
        # The run's demonstrations (the best seed's checked solutions of training problems):
        # a change may show the first few before the task. Set once they are collected.
        self.examples: list[Example] = []

    def open_changes(self, config: BlockConfig,
                     archived: list[tuple[int, str, BlockConfig]]) -> dict[str, list[str]]:
        return open_changes(config, archived, self.memory, len(self.examples))

    def pending_sweep(self, pool: Sequence[Parent], archived: list[tuple[int, str, BlockConfig]]
                      ) -> tuple[Parent, Sweep] | None:
        """The fittest candidate (the newest of equals) whose sweep has values left, and its
        sweep."""
        for parent in sorted(pool, key=lambda p: (-p.fitness, -p.entry.id)):
            sweep = sweep_of(parent, pool)
            if sweep is not None and sweep_values(parent.config, sweep.setting, self.open_changes(
                    parent.config, archived).get(sweep.setting, [])):
                return parent, sweep
        return None

    def examples_first(self, config: BlockConfig, changes: dict[str, list[str]],
                       changed: set[str]) -> Sweep | None:
        """Showing solved examples, before any other change of a parent that shows none and
        has no child that tried (MASS and DSPy tune a prompt's demonstrations first: for small
        models the cheapest gain)."""
        if config.examples or "examples" in changed or "examples" not in changes:
            return None
        return Sweep("examples", f"This run has {len(self.examples)} solved examples (other "
                     "problems of this kind, each with a reply checked correct); parent A shows "
                     "none yet: choose how many to show before the task.")

    async def design(self, generation: int, parents: list[Parent],
                     failures: dict[int, list[dict]], archived: list[tuple[int, str, BlockConfig]],
                     lessons: str = "",
                     tried: dict[int, list[tuple[Entry, BlockConfig]]] | None = None,
                     sweep: Sweep | None = None) -> Design:
        changes = self.open_changes(parents[0].config, archived)
        near = sweep_values(parents[0].config, sweep.setting, changes[sweep.setting]) \
            if sweep is not None and sweep.setting in changes else []
        if sweep is not None and near:
            changes[sweep.setting] = near
        else:  # no sweep, or its neighbours are tried: a change as any other
            sweep = None
        children = [c for _, c in (tried or {}).get(parents[0].entry.id, [])]
        changed = changed_settings(parents[0].config, children)
        sweep = sweep or self.examples_first(parents[0].config, changes, changed)
        move, slot = plan_move(generation, parents, self.seed, self.moves, changes, changed,
                               sweep.setting if sweep else None)
        swept = sweep is not None and (move, slot) == ("change", sweep.setting)
        design = Design(move=move, slot=slot, parents=_used(move, parents),
                        examples=self.examples)
        for attempt in range(self.attempts):
            if move == "cross" and design.rejected:
                # Parents too alike to cross into anything new: rewrite parent A instead.
                move, slot = "rewrite", plan_move(generation, parents[:1], self.seed,
                                                  ["rewrite"])[1]
                design.move, design.slot, design.parents = move, slot, _used(move, parents)
            values = changes.get(slot or "", []) if move == "change" else []
            schema = change_reply(values) if move == "change" else REPLIES[move]
            messages = build_messages(
                move, slot, parents, failures, lessons, domain=self.domain,
                description=self.description, answer_format=self.answer_format,
                token_budget=self.token_budget,
                previous=design.rejected[-1]["reason"] if design.rejected else None,
                tried=tried, values=values,
                note=sweep.why if swept and sweep else "")
            note = {"step": "design", "attempt": attempt, "move": move, "slot": slot,
                    **({"first": True} if swept else {})}
            try:
                reply = await self.llm.structured(
                    messages, schema, role="meta", attempt=generation * 100 + attempt,
                    temperature=self.temperature, max_tokens=self.max_tokens, run_id=self.run_id)
            except StructuredOutputError as exc:
                text = str(exc)
                what = ("truncated reply (cut at max_tokens)" if "cut at max_tokens" in text
                        else "invalid reply (not a JSON object under the schema)")
                design.trace.append({**note, "reason": f"{what}: {text[:200]}",
                                     "raw": str(getattr(exc, "raw", "") or "")[:300]})
                continue
            try:
                config = apply_move(move, reply, parents, slot)
            except (ValueError, ValidationError) as exc:
                design.trace.append({**note, "reason": f"impossible value: {_why_not(exc)}",
                                     "reply": reply.model_dump()})
                continue
            copied = quoted_problem(reply.instruction, [
                f for p in design.parents for f in failures.get(p.entry.id, [])]) \
                if isinstance(reply, RewriteReply) else None  # the rewrite move's schema
            if copied is not None:
                design.trace.append({**note, "reason": f"the instruction quotes a validation "
                                     f"{copied}: it must help on every problem, not name one",
                                     "reply": reply.model_dump()})
                continue
            twin = near_duplicate(config, archived)
            if twin is not None:
                design.trace.append({
                    **note, "reason": f"near-duplicate of #{twin[0]} ({twin[1]}): "
                    f"{describe(config)}", "reply": reply.model_dump()})
                continue
            parent_ids = ", ".join(f"#{p.entry.id}" for p in design.parents)
            what = f"{move} of {slot}" if slot else move
            design.config = config
            design.thought = f"{what} from {parent_ids}: {_why(reply)}"[:1500]
            design.trace.append({**note, "accepted": True, "reply": reply.model_dump()})
            return design
        return design
