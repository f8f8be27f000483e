"""The building-block search space: a candidate is a small typed configuration, not code.

`BlockConfig` (pydantic) names a skeleton from the seed library (`skeletons.py`), its
instruction texts, temperature, samples, rounds, loop policy and where the memory's sheet
goes. `compile_agent`
turns it into agent code in the one agent API (`forward(task)`): the skeleton's code plus the
configuration as a `CONFIG` literal, so the archive, `crib archive export`, `crib solve
--agent` and Ray treat it as any agent. `config_of` reads the configuration back from the code
(`ast.literal_eval`, nothing runs), which is how parents, near-duplicates and the loop policy
are recovered from archive entries.
"""
from __future__ import annotations

import ast
import difflib
import pprint
from typing import Literal, Sequence, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from crib.meta_search.skeletons import HELPERS, PRELUDE, SKELETONS

LoopKind = Literal["single", "retry", "best-of-n", "vote"]
# Where the cheatsheet goes: "system" leaves it to the host (the head of every solver call's
# system message); "prompt" puts it in the user turn, before the task, as notes. An agent
# cannot hide the sheet: the host shows it to every solver call that lacks it.
MemoryUse = Literal["system", "prompt"]
MAX_INSTRUCTION_CHARS = 1200
PARAMS = ("temperature", "samples", "rounds", "loop", "memory", "examples")  # a change's
MAX_EXAMPLES = 3
TEMPERATURES = ("0", "0.2", "0.5", "0.8", "1", "1.2")  # a change move's choices


class BlockConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skeleton: str
    instructions: dict[str, str] = {}
    temperature: float = Field(default=0.5, ge=0.0, le=1.5)
    samples: int = Field(default=1, ge=1, le=8)
    rounds: int = Field(default=0, ge=0, le=4)
    loop: LoopKind = "single"
    memory: MemoryUse = "system"
    # How many solved examples go before the task: the run's demonstrations (`Example`), the
    # first ones; compiled into the agent's code, so an exported agent carries them.
    examples: int = Field(default=0, ge=0, le=MAX_EXAMPLES)

    @model_validator(mode="after")
    def _check(self) -> "BlockConfig":
        skeleton = SKELETONS.get(self.skeleton)
        if skeleton is None:
            raise ValueError(f"unknown skeleton {self.skeleton!r}; known: "
                             f"{', '.join(SKELETONS)}")
        unknown = sorted(set(self.instructions) - set(skeleton.slots))
        if unknown:
            raise ValueError(f"skeleton {self.skeleton} has no instruction slot "
                             f"{', '.join(unknown)}; its slots: {', '.join(skeleton.slots)}")
        for slot, text in self.instructions.items():
            if not text.strip():
                raise ValueError(f"instruction {slot!r} is empty")
            if len(text) > MAX_INSTRUCTION_CHARS:
                raise ValueError(f"instruction {slot!r} is {len(text)} characters "
                                 f"(at most {MAX_INSTRUCTION_CHARS})")
        # Slots left out keep the seed's text, so a config always names every slot.
        self.instructions = {s: self.instructions.get(s, text).strip()
                             for s, text in skeleton.slots.items()}
        return self


class Example(BaseModel):
    """A demonstration: a training problem and the reply that solved it, checked correct."""

    task: str = Field(min_length=1, max_length=2000)
    solution: str = Field(min_length=1, max_length=3000)


def seed_config(skeleton: str) -> BlockConfig:
    """The seed agent's own configuration of a skeleton."""
    s = SKELETONS[skeleton]
    return BlockConfig(skeleton=skeleton, instructions=dict(s.slots), **s.defaults)


def settable(name: str) -> list[str]:
    """The values a change move may set `name` (the skeleton or one of PARAMS) to, as text."""
    if name == "skeleton":
        return list(SKELETONS)
    if name == "temperature":
        return list(TEMPERATURES)
    if name not in PARAMS:
        raise ValueError(f"no setting {name!r}; settings: skeleton, {', '.join(PARAMS)}")
    field = BlockConfig.model_fields[name]
    if field.annotation is int:  # samples, rounds: their bounds
        bound = {k: getattr(m, k) for m in field.metadata for k in ("ge", "le") if hasattr(m, k)}
        return [str(v) for v in range(bound["ge"], bound["le"] + 1)]
    return list(get_args(field.annotation))  # a Literal: loop, memory


def describe(config: BlockConfig) -> str:
    """One line for names and prompts: skeleton and the parameters it reads."""
    s = SKELETONS[config.skeleton]
    parts = [f"temperature {config.temperature:g}"]
    parts += [f"{p} {getattr(config, p)}" for p in s.uses]
    parts += [f"loop {config.loop}", f"memory {config.memory}"]
    parts += [f"examples {config.examples}"] if config.examples else []
    return f"{config.skeleton} ({', '.join(parts)})"


def compile_agent(config: BlockConfig, thought: str = "",
                  examples: Sequence[Example] = ()) -> str:
    """Agent code (Crib API) for `config`: a docstring, imports, CONFIG, the first
    `config.examples` of `examples`, helpers, forward."""
    if config.examples > len(examples):
        raise ValueError(f"the configuration shows {config.examples} examples; "
                         f"{len(examples)} given")
    s = SKELETONS[config.skeleton]
    first = (thought.strip().splitlines() or [s.idea])[0].replace('"""', "'")
    doc = (f'"""{first}\n\nCompiled by Crib from a building-block configuration: skeleton '
           f'{config.skeleton}\n({s.idea}). The search changes only CONFIG;\nit scored this '
           f'agent with `--loop {config.loop}`, which `crib solve` uses unless given another.'
           '\n"""\n')
    literal = pprint.pformat(config.model_dump(), width=96, sort_dicts=False)
    shown = pprint.pformat([e.model_dump() for e in examples[:config.examples]], width=96,
                           sort_dicts=False)
    return (f"{doc}{PRELUDE}\nCONFIG = {literal}\nEXAMPLES = {shown}\n{HELPERS}\n"
            f"{s.body.strip()}\n")


def config_of(code: str) -> BlockConfig | None:
    """The configuration a compiled agent carries, or None for any other code."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "CONFIG"):
            try:
                return BlockConfig(**ast.literal_eval(node.value))
            except (ValueError, TypeError, SyntaxError, ValidationError):
                return None
    return None


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def similarity(a: BlockConfig, b: BlockConfig) -> float:
    """1.0 for configurations that behave alike: same skeleton and the parameters it reads,
    instruction texts compared by their normalised character overlap (the lowest slot)."""
    if a.skeleton != b.skeleton:
        return 0.0
    uses = ("temperature", "loop", "memory", "examples", *SKELETONS[a.skeleton].uses)
    if any(getattr(a, p) != getattr(b, p) for p in uses if p != "temperature"):
        return 0.0
    if abs(a.temperature - b.temperature) > 0.05:
        return 0.0
    return min(difflib.SequenceMatcher(None, _norm(a.instructions[s]),
                                       _norm(b.instructions[s])).ratio()
               for s in a.instructions)


def distance(a: BlockConfig, b: BlockConfig) -> float:
    """0 (alike) .. 1 (different skeletons): the diversity term of parent selection."""
    if a.skeleton != b.skeleton:
        return 1.0
    params = sum(getattr(a, p) != getattr(b, p) for p in PARAMS) / len(PARAMS)
    texts = 1.0 - similarity(a.model_copy(update={p: getattr(b, p) for p in PARAMS}), b)
    return 0.5 * params + 0.5 * texts


def near_duplicate(config: BlockConfig, others: list[tuple[int, str, BlockConfig]],
                   threshold: float = 0.9) -> tuple[int, str] | None:
    """The (entry id, name) of an archived configuration `config` nearly repeats, if any."""
    for entry_id, name, other in others:
        if similarity(config, other) >= threshold:
            return entry_id, name
    return None
