"""ARC grid tasks: infer the transformation from train pairs, apply it to the test input.

Input (see ../shared/data/README.md): {"train": [{"input": grid, "output": grid}, ...],
"test_input": [grid, ...]}; target: the list of expected output grids, one per test input.
The answer is JSON: one grid (a 2-D list of integers 0-9) when there is one test input, or a
list of grids in order when there are several. Scoring is exact grid match per test input,
averaged (the ARC Prize convention: each test output counts separately); for the usual single
test input that is 1 or 0. Extraction takes the last JSON grid (or list of grids) in the reply.
"""

from __future__ import annotations

import json
import re

from crib.agents.domains import extract as ex
from crib.agents.domains.base import Domain
from crib.agents.problems import Problem

Grid = list[list[int]]
MAX_PARSE_ATTEMPTS = 200  # bounds the work on adversarial replies full of brackets


def is_grid(value: object) -> bool:
    return (isinstance(value, list) and len(value) > 0
            and all(isinstance(row, list) and len(row) > 0 for row in value)
            and all(type(c) is int for row in value for c in row)
            and len({len(row) for row in value}) == 1)


def grid_text(grid: Grid) -> str:
    rows = ",\n ".join(json.dumps(row, separators=(",", ":")) for row in grid)
    return f"[{rows}]"


def _bracket_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every balanced [...] span; each `]` closes exactly one span."""
    spans, stack = [], []
    for i, ch in enumerate(text):
        if ch == "[":
            stack.append(i)
        elif ch == "]" and stack:
            spans.append((stack.pop(), i + 1))
    return spans


def find_grids(text: str) -> Grid | list[Grid] | None:
    """The last JSON grid or list of grids in `text` (the one that closes last)."""
    text = ex.clip(text)
    # Spans come in order of their closing bracket: walk back from the end, and the first
    # valid one is the outermost structure closing last (inner grids close before it).
    attempts = 0
    for start, end in reversed(_bracket_spans(text)):
        inner = text[start + 1:min(end, start + 64)].replace(" ", "").replace("\n", "")
        if not inner.startswith("[") or inner.startswith("[[["):
            continue  # a grid starts with "[[" and nests at most 3 deep: skip the rest cheaply
        attempts += 1
        if attempts > MAX_PARSE_ATTEMPTS:
            break
        try:
            value = json.loads(text[start:end])
        except (json.JSONDecodeError, RecursionError):
            continue
        if is_grid(value) or (isinstance(value, list) and value and all(is_grid(g) for g in value)):
            return value
    return _digit_block(text)


def _digit_block(text: str) -> Grid | None:
    """Fallback: the last block of lines made only of digits ("0 3 4" or "034")."""
    lines = text.splitlines()
    block: list[list[int]] = []
    for line in reversed(lines):
        s = line.strip().strip("`")
        if s and re.fullmatch(r"[0-9](?:[ ,]*[0-9])*", s):
            block.insert(0, [int(c) for c in re.findall(r"[0-9]", s)])
        elif block:
            break
    return block if is_grid(block) else None


class Arc(Domain):
    name = "arc"
    description = "ARC grid puzzles: apply the transformation shown by the examples"
    answer_format = (
        "Work out the rule that turns each example input into its output and apply it to the "
        "test input. End your reply with the output grid as JSON (a list of rows of integers "
        "0-9) on the last lines after `Answer:`, for example `Answer: [[1,0],[0,1]]`. If there "
        "are several test inputs, give a JSON list with one output grid per test input."
    )

    def validate_input(self, problem: Problem) -> None:
        data = problem.input
        if not isinstance(data, dict) or "train" not in data or "test_input" not in data:
            raise ValueError('arc input must be an object {"train": [...], "test_input": [...]}')
        for i, pair in enumerate(data["train"]):
            if not (isinstance(pair, dict) and is_grid(pair.get("input"))
                    and is_grid(pair.get("output"))):
                raise ValueError(f"arc train pair {i} must hold an input and an output grid")
        tests = data["test_input"]
        if not (isinstance(tests, list) and tests and all(is_grid(g) for g in tests)):
            raise ValueError("arc test_input must be a non-empty list of grids")

    def render(self, problem: Problem) -> str:
        self.validate_input(problem)
        data = problem.input
        assert isinstance(data, dict)
        parts = []
        for i, pair in enumerate(data["train"], 1):
            parts.append(f"Example {i}\nInput:\n{grid_text(pair['input'])}\n"
                         f"Output:\n{grid_text(pair['output'])}")
        tests = data["test_input"]
        for i, grid in enumerate(tests, 1):
            label = "Test input" if len(tests) == 1 else f"Test input {i}"
            parts.append(f"{label}:\n{grid_text(grid)}")
        return "\n\n".join(parts)

    def extract(self, text: str | None) -> str | None:
        text = ex.clip(text)
        inside = ex.tagged(text)  # <answer>[[...]]</answer>
        if inside is not None and (grids := find_grids(inside)) is not None:
            return json.dumps(grids, separators=(",", ":"))
        after = ex.answer_line(text)
        marker = text.lower().rfind("answer")
        found = find_grids(text[marker:]) if marker >= 0 and after is not None else None
        if found is None:
            found = find_grids(text)
        return json.dumps(found, separators=(",", ":")) if found is not None else None

    async def score(self, problem: Problem, answer: str | None) -> float:
        if not answer:
            return 0.0
        try:
            value = json.loads(answer)
        except json.JSONDecodeError:
            value = find_grids(answer)
        targets = problem.target if isinstance(problem.target, list) else []
        if is_grid(targets):  # a single target grid given bare
            targets = [targets]
        if not targets:
            return 0.0
        if is_grid(value):
            answers = [value]
        elif isinstance(value, list) and all(is_grid(g) for g in value):
            answers = value
        else:
            return 0.0
        hits = sum(1 for i, want in enumerate(targets) if i < len(answers) and answers[i] == want)
        return hits / len(targets)
