"""The archive of one search run: entries, their evaluations and fitness, over SQL.

Every write is idempotent so a run killed at any point (kill -9) resumes without duplicates:
entries are keyed by (run, generation, slot), evaluations by (entry, split, problem), fitness
by (entry, split). Code duplicates are detected by a hash of the code's syntax tree (so
reformatting or comments do not hide a copy) and kept, marked `duplicate_of`.
"""
from __future__ import annotations

from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crib.agents.library import code_hash
from crib.agents.stats import fitness_ci
from crib.meta_search.records import (PROPOSED, REJECTED, ArchiveEntryRow, EvaluationRow,
                                 FitnessRow, SearchRunRow)


def _entry_row(s: Session, entry_id: int) -> ArchiveEntryRow:
    row = s.get(ArchiveEntryRow, entry_id)
    if row is None:
        raise KeyError(f"no archive entry #{entry_id}")
    return row


class Fitness(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    split: str
    median: float
    mean: float
    ci_low: float
    ci_high: float
    n: int
    seed: int
    n_resamples: int
    cold: float | None = None
    warm: float | None = None
    errors: int = 0
    cost_usd: float = 0.0
    tokens: int = 0
    calls: int = 0


class Entry(BaseModel):
    """An archive entry as the rest of meta search sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    run_id: str
    generation: int
    slot: int
    origin: str
    name: str
    thought: str
    code: str
    code_hash: str
    parents: list[int]
    status: str
    stage: str
    reason: str | None
    duplicate_of: int | None
    debug_rounds: int
    history: list[Any]
    cost_usd: float
    tokens: int
    fitness: dict[str, Fitness] = {}

    def score(self, split: str = "validation") -> float | None:
        f = self.fitness.get(split)
        return f.median if f else None

    @property
    def val(self) -> Fitness | None:
        return self.fitness.get("validation")


class Outcome(BaseModel):
    """One problem's result, as meta search records it."""

    problem_id: str
    score: float = 0.0
    answer: str | None = None
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    wall_ms: float = 0.0
    error: str | None = None


class Archive:
    def __init__(self, engine: Engine, run_id: str):
        self.engine = engine
        self.run_id = run_id

    # -- run ---------------------------------------------------------------------------------
    def run(self) -> SearchRunRow | None:
        with Session(self.engine, expire_on_commit=False) as s:
            return s.get(SearchRunRow, self.run_id)

    def require_run(self) -> SearchRunRow:
        """The run's row, for code that runs only after `create_run` (KeyError otherwise)."""
        row = self.run()
        if row is None:
            raise KeyError(f"no search run {self.run_id!r}")
        return row

    def update_run(self, **fields: Any) -> None:
        with Session(self.engine) as s, s.begin():
            row = s.get(SearchRunRow, self.run_id)
            if row is None:
                raise KeyError(f"no search run {self.run_id!r}")
            for key, value in fields.items():
                setattr(row, key, value)

    # -- entries -----------------------------------------------------------------------------
    def add_entry(self, *, generation: int, slot: int, origin: str, name: str, thought: str,
                  code: str, parents: Iterable[int] = (), status: str = PROPOSED,
                  reason: str | None = None, history: list | None = None) -> Entry:
        """Insert an entry, or return the one already at (generation, slot) (resume).

        Code that matches a live entry is stored as a rejected duplicate, never dropped."""
        existing = self.entry_at(generation, slot)
        if existing is not None:
            return existing
        digest = code_hash(code)
        twin = self._live_with_hash(digest)
        row = ArchiveEntryRow(
            run_id=self.run_id, generation=generation, slot=slot, origin=origin,
            name=name[:200], thought=thought, code=code, code_hash=digest,
            parents=list(parents), status=status, reason=reason, history=history or [])
        if twin is not None:
            row.duplicate_of = twin.id
            if status != REJECTED:  # an entry rejected already keeps the reason it came with
                row.status, row.stage = REJECTED, "dedup"
                row.reason = f"duplicate of #{twin.id} ({twin.name})"
        with Session(self.engine, expire_on_commit=False) as s:
            s.add(row)
            try:
                s.commit()
            except IntegrityError:  # a concurrent writer got there first
                s.rollback()
                found = self.entry_at(generation, slot)
                if found is None:
                    raise
                return found
            return self.entry(row.id)

    def replace_code(self, entry_id: int, code: str, note: dict | None = None,
                     debug_rounds: int | None = None) -> Entry:
        """Swap in fixed code (a debug round). If the fix equals another live entry's code,
        the entry becomes a rejected duplicate of it."""
        digest = code_hash(code)
        twin = self._live_with_hash(digest, exclude=entry_id)
        with Session(self.engine) as s, s.begin():
            row = _entry_row(s, entry_id)
            row.code, row.code_hash = code, digest
            if debug_rounds is not None:  # same transaction: a kill cannot split the two
                row.debug_rounds = debug_rounds
            if note:
                row.history = [*row.history, note]
            if twin is not None:
                row.status, row.duplicate_of = REJECTED, twin.id
                row.reason = f"debug fix duplicates #{twin.id} ({twin.name})"
        return self.entry(entry_id)

    def set_entry(self, entry_id: int, **fields: Any) -> Entry:
        with Session(self.engine) as s, s.begin():
            row = _entry_row(s, entry_id)
            for key, value in fields.items():
                setattr(row, key, value)
        return self.entry(entry_id)

    def note(self, entry_id: int, note: dict) -> None:
        with Session(self.engine) as s, s.begin():
            row = _entry_row(s, entry_id)
            row.history = [*row.history, note]

    def entry(self, entry_id: int) -> Entry:
        with Session(self.engine) as s:
            return self._view(s, _entry_row(s, entry_id))

    def entry_at(self, generation: int, slot: int) -> Entry | None:
        with Session(self.engine) as s:
            row = s.scalars(select(ArchiveEntryRow).where(
                ArchiveEntryRow.run_id == self.run_id, ArchiveEntryRow.generation == generation,
                ArchiveEntryRow.slot == slot)).first()
            return self._view(s, row) if row else None

    def entries(self) -> list[Entry]:
        with Session(self.engine) as s:
            rows = s.scalars(select(ArchiveEntryRow).where(ArchiveEntryRow.run_id == self.run_id)
                             .order_by(ArchiveEntryRow.id)).all()
            fit = self._fitness_by_entry(s, [r.id for r in rows])
            return [self._view(s, r, fit.get(r.id, {})) for r in rows]

    def leaderboard(self, split: str = "validation") -> list[Entry]:
        """Entries scored on `split`, best median first (ties: higher lower bound, older)."""
        scored = [e for e in self.entries() if split in e.fitness]
        return sorted(scored, key=lambda e: (-e.fitness[split].median,
                                             -e.fitness[split].ci_low, e.id))

    def best(self, split: str = "validation") -> Entry | None:
        board = self.leaderboard(split)
        return board[0] if board else None

    def _live_with_hash(self, digest: str, exclude: int | None = None) -> ArchiveEntryRow | None:
        with Session(self.engine, expire_on_commit=False) as s:
            q = select(ArchiveEntryRow).where(
                ArchiveEntryRow.run_id == self.run_id, ArchiveEntryRow.code_hash == digest,
                ArchiveEntryRow.duplicate_of.is_(None))
            if exclude is not None:
                q = q.where(ArchiveEntryRow.id != exclude)
            return s.scalars(q).first()

    def _fitness_by_entry(self, s: Session, ids: list[int]) -> dict[int, dict[str, Fitness]]:
        out: dict[int, dict[str, Fitness]] = {}
        if not ids:
            return out
        for f in s.scalars(select(FitnessRow).where(FitnessRow.run_id == self.run_id)):
            out.setdefault(f.entry_id, {})[f.split] = Fitness.model_validate(f)
        return out

    def _view(self, s: Session, row: ArchiveEntryRow, fit: dict | None = None) -> Entry:
        if fit is None:
            fit = {f.split: Fitness.model_validate(f) for f in s.scalars(
                select(FitnessRow).where(FitnessRow.entry_id == row.id))}
        data = {c: getattr(row, c) for c in Entry.model_fields if c != "fitness"}
        return Entry(**data, fitness=fit)

    # -- evaluations and fitness -------------------------------------------------------------
    def record(self, entry_id: int, split: str, position: int, outcome: Outcome) -> bool:
        """Store one problem's outcome; False when it was already there (resume)."""
        row = EvaluationRow(entry_id=entry_id, run_id=self.run_id, split=split,
                            position=position, **outcome.model_dump())
        with Session(self.engine) as s:
            s.add(row)
            try:
                s.commit()
                return True
            except IntegrityError:
                s.rollback()
                return False

    def evaluations(self, entry_id: int, split: str) -> dict[str, Outcome]:
        with Session(self.engine) as s:
            rows = s.scalars(select(EvaluationRow).where(
                EvaluationRow.entry_id == entry_id, EvaluationRow.split == split)
                .order_by(EvaluationRow.position)).all()
            return {r.problem_id: Outcome(**{k: getattr(r, k) for k in Outcome.model_fields})
                    for r in rows}

    def set_fitness(self, entry_id: int, split: str, outcomes: list[Outcome], seed: int,
                    n_resamples: int = 10_000, halves: bool = False) -> Fitness:
        """Compute and store (replace) the fitness of `outcomes`, in their given order.

        `median` is ADAS's fitness: the median of the bootstrap distribution of the mean score
        (~ accuracy), with the 95% percentile interval of the mean; seed and n are stored.

        With `halves`, also the cold (first half) and warm (second half) mean accuracy, for
        memory-aware fitness where order is the order the memory saw the problems."""
        scores = [o.score for o in outcomes]
        median, low, high = fitness_ci(scores, seed=seed, n_resamples=n_resamples)
        half = len(scores) // 2
        cold = warm = None
        if halves and len(scores) >= 2:
            cold = sum(scores[:half]) / half
            warm = sum(scores[half:]) / (len(scores) - half)
        fit = Fitness(
            split=split, median=median, mean=sum(scores) / len(scores) if scores else 0.0,
            ci_low=low, ci_high=high, n=len(scores), seed=seed, n_resamples=n_resamples,
            cold=cold, warm=warm, errors=sum(1 for o in outcomes if o.error),
            cost_usd=sum(o.cost_usd for o in outcomes),
            tokens=sum(o.tokens_in + o.tokens_out for o in outcomes),
            calls=sum(o.calls for o in outcomes))
        with Session(self.engine) as s, s.begin():
            row = s.scalars(select(FitnessRow).where(FitnessRow.entry_id == entry_id,
                                                     FitnessRow.split == split)).first()
            if row is None:
                row = FitnessRow(entry_id=entry_id, run_id=self.run_id, split=split)
                s.add(row)
            for key, value in fit.model_dump().items():
                if key != "split":
                    setattr(row, key, value)
        return fit

    def entry_spend(self, entry_id: int) -> tuple[float, int]:
        """Solver cost and tokens of every evaluation of the entry so far."""
        with Session(self.engine) as s:
            rows = s.scalars(select(EvaluationRow).where(EvaluationRow.entry_id == entry_id))
            cost, tokens = 0.0, 0
            for r in rows:
                cost += r.cost_usd
                tokens += r.tokens_in + r.tokens_out
            return float(cost), int(tokens)
