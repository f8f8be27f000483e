"""Problem records and the shared JSONL/CSV dataset loader.

A dataset is JSONL (one JSON object a line) or CSV (a header row, then one problem a row). The
loader never lets a bad line pass silently: every broken line becomes a `DatasetError` naming
the file and the 1-based line number. With `on_error="stop"` the whole file is checked first
and `DatasetLoadError` is raised listing every bad line (up to `MAX_LISTED_ERRORS`), before any
work is done; with `on_error="skip"` good lines are returned together with the errors so the run
can record them.

Ids: a row without an id gets `<file stem>-<line>` (stable across runs as long as the file is
unchanged); two rows with the same id are an error on the later line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

MAX_LISTED_ERRORS = 20
MAX_MESSAGE_CHARS = 300  # a message may quote the line: a 20 MB line must not be echoed


class Problem(BaseModel):
    id: str
    input: str | dict[str, Any]
    target: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def text(self) -> str:
        """The input as text: as given, or a structured input as JSON."""
        return self.input if isinstance(self.input, str) else json.dumps(self.input)


class DatasetError(BaseModel):
    """One bad line of a dataset file (line 0: the file as a whole)."""

    file: str
    line: int
    message: str

    @field_validator("message")
    @classmethod
    def _capped(cls, message: str) -> str:
        if len(message) <= MAX_MESSAGE_CHARS:
            return message
        left_out = len(message) - MAX_MESSAGE_CHARS
        return f"{message[:MAX_MESSAGE_CHARS]}… ({left_out} more characters)"

    def __str__(self) -> str:
        where = self.file if self.line == 0 else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class DatasetLoadError(ValueError):
    """Raised with on_error="stop" (or when the file itself is unusable)."""

    def __init__(self, errors: list[DatasetError]):
        self.errors = errors
        shown = errors[:MAX_LISTED_ERRORS]
        lines = [str(e) for e in shown]
        if len(errors) > len(shown):
            lines.append(f"... and {len(errors) - len(shown)} more bad lines")
        if all(e.line == 0 for e in errors):  # the file itself (unreadable, unknown format)
            super().__init__("\n".join(lines))
        else:
            super().__init__(f"{len(errors)} bad line(s) in dataset:\n" + "\n".join(lines))


class LoadResult(BaseModel):
    problems: list[Problem]
    errors: list[DatasetError] = Field(default_factory=list)


# A domain passes a validator that raises ValueError with a readable message for inputs it
# cannot work with (for example a Game of 24 line without four numbers).
Validator = Callable[[Problem], None]


def load_problems(
    path: str | Path,
    input_field: str = "input",
    target_field: str = "target",
    id_field: str = "id",
    on_error: Literal["stop", "skip"] = "stop",
    validate: Validator | None = None,
) -> LoadResult:
    """Load a JSONL or CSV dataset. See the module docstring for the error policy."""
    if on_error not in ("stop", "skip"):
        raise ValueError(f"on_error must be 'stop' or 'skip', not {on_error!r}")
    p = Path(path)
    name = str(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DatasetLoadError(
            [DatasetError(file=name, line=0, message=f"cannot read: {exc.strerror or exc}")]
        ) from exc
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(raw, name)
    elif suffix in (".csv", ".tsv"):
        rows = _csv_rows(raw, name, delimiter="\t" if suffix == ".tsv" else ",", field=input_field)
    else:
        raise DatasetLoadError(
            [DatasetError(file=name, line=0,
                          message=f"unknown dataset format {suffix or '(no extension)'!r}; "
                                  "use .jsonl or .csv")]
        )
    problems: list[Problem] = []
    errors: list[DatasetError] = []
    seen: dict[str, int] = {}
    for line_no, row in rows:
        if isinstance(row, DatasetError):
            errors.append(row)
            continue
        try:
            problem = _to_problem(row, p.stem, line_no, input_field, target_field, id_field)
            if validate is not None:
                validate(problem)
        except ValueError as exc:
            errors.append(DatasetError(file=name, line=line_no, message=str(exc)))
            continue
        if problem.id in seen:
            errors.append(DatasetError(
                file=name, line=line_no,
                message=f"duplicate id {problem.id!r} (first on line {seen[problem.id]})"))
            continue
        seen[problem.id] = line_no
        problems.append(problem)
    if errors and on_error == "stop":
        raise DatasetLoadError(errors)
    return LoadResult(problems=problems, errors=errors)


def _jsonl_rows(raw: bytes, name: str) -> list[tuple[int, dict | DatasetError]]:
    rows: list[tuple[int, dict | DatasetError]] = []
    for line_no, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8-sig" if line_no == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            rows.append((line_no, DatasetError(file=name, line=line_no,
                                               message=f"not valid UTF-8 ({exc.reason})")))
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            rows.append((line_no, DatasetError(
                file=name, line=line_no, message=f"bad JSON: {exc.msg} at column {exc.colno}")))
            continue
        if not isinstance(obj, dict):
            rows.append((line_no, DatasetError(
                file=name, line=line_no,
                message=f"expected a JSON object, got {type(obj).__name__}")))
            continue
        rows.append((line_no, obj))
    return rows


def _csv_rows(raw: bytes, name: str, delimiter: str,
              field: str) -> list[tuple[int, dict | DatasetError]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetLoadError([DatasetError(
            file=name, line=0, message=f"not valid UTF-8 at byte {exc.start}")]) from exc
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return []
    if field not in header:
        raise DatasetLoadError([DatasetError(
            file=name, line=1,
            message=f"no column {field!r} in the header (columns: {', '.join(header)})")])
    rows: list[tuple[int, dict | DatasetError]] = []
    while True:
        line_no = reader.line_num + 1  # physical line where the next record starts
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rows.append((line_no, DatasetError(file=name, line=line_no, message=f"bad CSV: {exc}")))
            continue
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            rows.append((line_no, DatasetError(
                file=name, line=line_no,
                message=f"expected {len(header)} cells, got {len(cells)}")))
            continue
        rows.append((line_no, dict(zip(header, cells))))
    return rows


def _to_problem(row: dict, stem: str, line_no: int, input_field: str, target_field: str,
                id_field: str) -> Problem:
    if input_field not in row:
        raise ValueError(f"missing input field {input_field!r}")
    value = row[input_field]
    if not isinstance(value, (str, dict)):
        raise ValueError(
            f"input field {input_field!r} must be a string or an object, "
            f"got {type(value).__name__}")
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"input field {input_field!r} is empty")
    raw_id = row.get(id_field)
    if raw_id is None or raw_id == "":
        pid = f"{stem}-{line_no}"
    elif isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool):
        pid = str(raw_id)
    else:
        raise ValueError(f"id field {id_field!r} must be a string or integer, "
                         f"got {type(raw_id).__name__}")
    target = row.get(target_field)
    if target == "":
        target = None  # an empty CSV cell (or empty string) means "no target"
    metadata: dict[str, Any] = {}
    meta = row.get("metadata")
    if isinstance(meta, dict):
        metadata.update(meta)
    elif isinstance(meta, str) and meta.strip():
        # CSV: a metadata column may hold JSON; keep it as text if it does not parse.
        try:
            parsed = json.loads(meta)
        except json.JSONDecodeError:
            parsed = meta
        metadata.update(parsed if isinstance(parsed, dict) else {"metadata": parsed})
    for key, extra in row.items():  # any other columns travel along as metadata
        if key not in (input_field, target_field, id_field, "metadata"):
            metadata.setdefault(key, extra)
    return Problem(id=pid, input=value, target=target, metadata=metadata)
