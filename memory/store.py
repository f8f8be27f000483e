"""MemoryStore: the cheatsheet in SQL, with an append-only event log and optimistic versions.

Every write goes through `_transact`: read the scope's entries and version, plan the new entry
states, then in one transaction bump the scope version only if it is still the one that was read
(compare-and-set), write one event per change and the new entry states. On a conflict the plan
is re-read and re-validated, so two processes curating one scope lose no update.
Chroma (optional) is refreshed after each commit; SQL stays the source of truth.
"""
from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterable, cast

from sqlalchemy import CursorResult, Engine, Select, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from crib.memory import history
from crib.memory.apply import Change, new_entry_id, plan_curation
from crib.memory.models import (
    CONTENT_FIELDS, CurationResult, MemoryEntry, MemoryEvent, PastProblem, Provenance, SheetDiff,
    VerdictLike, verdict_passed,
)
from crib.memory.ops import CurationPolicy, Rejection, validate_ops
from crib.memory.records import CurationRow, EntryRow, EventRow, OutcomeRow, ProblemRow, ScopeRow
from crib.memory.render import render_sheet
from crib.memory.skills import skill_records
from crib.memory.tokens import TokenCounter
from crib.memory.tokens import count_tokens as default_count_tokens

if TYPE_CHECKING:  # Chroma loads only when an index is used
    from crib.memory.vectors import VectorIndex

log = logging.getLogger(__name__)


class ConcurrencyError(RuntimeError):
    """The scope kept changing underneath us; nothing was written."""


class _Conflict(Exception):
    pass


IndexedRow = type[EntryRow] | type[ProblemRow]  # the rows the vector index points at


def _by_ids(row: IndexedRow, ids: Iterable) -> Select:
    """Rows by primary key. Callers check the scope in Python: with the scope in the WHERE
    clause too, SQLite picks the scope index and scans the whole scope (9 ms instead of 0.7 ms
    for 20 ids among 20k entries)."""
    return select(row).where(row.id.in_(list(ids)))


def _entry(row: EntryRow) -> MemoryEntry:
    return MemoryEntry(id=row.id, scope=row.scope, kind=row.kind, title=row.title, body=row.body,
                       tags=list(row.tags or []), provenance=Provenance(**(row.provenance or {})),
                       used=row.used, helped=row.helped, hurt=row.hurt, status=row.status,
                       pinned=row.pinned, version=row.version, created_at=row.created_at,
                       updated_at=row.updated_at)


def _problem(row: ProblemRow) -> PastProblem:
    return PastProblem(id=row.id, scope=row.scope, problem_id=row.problem_id, problem=row.problem,
                       answer=row.answer, passed=row.passed, score=row.score, run_id=row.run_id)


class MemoryStore:
    def __init__(self, engine: Engine, chroma_dir: str | None = None, chroma_url: str | None = None,
                 embed: Any = None, count_tokens: TokenCounter | None = None,
                 policy: CurationPolicy | None = None, index: VectorIndex | None = None,
                 retries: int = 20):
        self.engine = engine
        self.policy = policy or CurationPolicy()
        self.count_tokens = count_tokens or default_count_tokens
        self.retries = retries
        if index is None and (chroma_dir or chroma_url):
            from crib.memory.vectors import VectorIndex  # numpy, Chroma: only with an index

            index = VectorIndex(path=chroma_dir, url=chroma_url, embed=embed)
        self.index = index

    # ---- reading ---------------------------------------------------------------------------
    def version(self, scope: str) -> int:
        with Session(self.engine) as s:
            return s.scalar(select(ScopeRow.version).where(ScopeRow.scope == scope)) or 0

    def entries(self, scope: str, status: str | Iterable[str] | None = None,
                ids: Iterable[str] | None = None) -> list[MemoryEntry]:
        q = (select(EntryRow).where(EntryRow.scope == scope) if ids is None
             else _by_ids(EntryRow, ids))
        if status is not None:
            q = q.where(EntryRow.status.in_([status] if isinstance(status, str) else list(status)))
        with Session(self.engine) as s:
            return [_entry(r) for r in s.scalars(q.order_by(EntryRow.id)) if r.scope == scope]

    def get(self, entry_id: str) -> MemoryEntry:
        with Session(self.engine) as s:
            row = s.get(EntryRow, entry_id)
            if row is None:
                raise KeyError(f"no memory entry {entry_id!r}")
            return _entry(row)

    def scopes(self) -> list[dict[str, Any]]:
        with Session(self.engine) as s:
            counts = dict(s.execute(select(EntryRow.scope, func.count())
                                    .where(EntryRow.status != "archived")
                                    .group_by(EntryRow.scope)).all())
            return [{"scope": r.scope, "version": r.version, "entries": counts.get(r.scope, 0),
                     "copied_from": r.copied_from}
                    for r in s.scalars(select(ScopeRow).order_by(ScopeRow.scope))]

    def _read(self, scope: str) -> tuple[int, dict[str, MemoryEntry]]:
        with Session(self.engine) as s, s.begin():  # one snapshot for version and entries
            version = s.scalar(select(ScopeRow.version).where(ScopeRow.scope == scope)) or 0
            rows = s.scalars(select(EntryRow).where(EntryRow.scope == scope)).all()
            return version, {r.id: _entry(r) for r in rows}

    # ---- the one write path ----------------------------------------------------------------
    def _ensure_scope(self, scope: str, copied_from: str | None = None) -> None:
        with Session(self.engine) as s:
            if s.get(ScopeRow, scope) is not None:
                return
        try:
            with Session(self.engine) as s, s.begin():
                s.add(ScopeRow(scope=scope, version=0, copied_from=copied_from))
        except IntegrityError:
            pass  # another process made it first

    def _transact(self, scope: str, plan: Callable[[int, dict[str, MemoryEntry]], list[Change]],
                  run_id: str | None = None,
                  also: Callable[[Session, int, list[Change]], None] | None = None,
                  ) -> tuple[int, int, list[Change]]:
        """Plan against a fresh read and commit with compare-and-set on the scope version.
        `also(session, before, changes)` adds rows to the same transaction when there are
        changes. Returns (version before, version after, changes written)."""
        self._ensure_scope(scope)
        for attempt in range(self.retries):
            before, current = self._read(scope)
            changes = plan(before, current)
            if not changes:
                return before, before, []
            try:
                self._write(scope, before, changes, run_id, also)
            except (_Conflict, IntegrityError, OperationalError) as exc:
                log.debug("memory scope %s changed underneath (%s); retrying", scope, exc)
                time.sleep(random.uniform(0.0, 0.01 * (attempt + 1)))
                continue
            self._sync_index(scope, [c.entry for c in changes])
            return before, before + len(changes), changes
        raise ConcurrencyError(
            f"memory scope {scope!r}: gave up after {self.retries} conflicting writers")

    def _write(self, scope: str, before: int, changes: list[Change], run_id: str | None,
               also: Callable[[Session, int, list[Change]], None] | None = None) -> None:
        now = datetime.now(timezone.utc)
        with Session(self.engine) as s, s.begin():
            if also is not None:
                also(s, before, changes)
            # an UPDATE's result is a CursorResult (it has rowcount); Session.execute says Result
            bumped = cast(CursorResult, s.execute(
                update(ScopeRow).where(ScopeRow.scope == scope, ScopeRow.version == before)
                .values(version=before + len(changes))))
            if bumped.rowcount != 1:
                raise _Conflict(scope)
            for i, ch in enumerate(changes, start=1):
                e = ch.entry
                state = e.model_dump(mode="json", exclude={"created_at", "updated_at"})
                s.add(EventRow(scope=scope, seq=before + i, entry_id=e.id, action=ch.action,
                               state=state, reason=ch.reason, run_id=run_id, created_at=now))
                if ch.new:
                    s.add(EntryRow(**{k: v for k, v in state.items()}, created_at=now,
                                   updated_at=now))
                    s.flush()
                else:  # content only: counters move in place in record_outcome
                    values = {f: state[f] for f in CONTENT_FIELDS}
                    s.execute(update(EntryRow).where(EntryRow.id == e.id)
                              .values(**values, version=e.version, updated_at=now))

    def _sync_index(self, scope: str, entries: list[MemoryEntry]) -> None:
        if self.index is None or not entries:
            return
        try:
            self.index.upsert_entries(scope, entries)
        except Exception as exc:  # SQL is the truth; `crib memory reindex` repairs Chroma
            log.warning("memory: Chroma update failed for scope %s (%s); "
                        "run `crib memory reindex`", scope, exc)

    # ---- direct edits (CLI, import) --------------------------------------------------------
    def add(self, scope: str, title: str, body: str, kind: str = "strategy",
            tags: list[str] | None = None, provenance: Provenance | None = None,
            status: str = "active", pinned: bool = False,
            reason: str | None = None) -> MemoryEntry:
        entry = MemoryEntry(id=new_entry_id(), scope=scope, kind=kind, title=title, body=body,
                            tags=tags or [], provenance=provenance or Provenance(source="user"),
                            status=status, pinned=pinned)
        self._transact(scope, lambda v, cur: [Change("add", entry, new=True, reason=reason)])
        return self.get(entry.id)

    def edit(self, entry_id: str, reason: str | None = None, action: str = "edit",
             **fields: Any) -> MemoryEntry:
        """Change content fields (kind, title, body, tags, status, pinned) of one entry."""
        unknown = set(fields) - set(CONTENT_FIELDS)
        if unknown:
            raise ValueError(f"cannot edit {', '.join(sorted(unknown))}; "
                             f"editable: {', '.join(CONTENT_FIELDS)}")
        scope = self.get(entry_id).scope

        def plan(_v: int, cur: dict[str, MemoryEntry]) -> list[Change]:
            old = cur[entry_id]
            if all(getattr(old, k) == v for k, v in fields.items()):
                return []
            new = MemoryEntry.model_validate({**old.model_dump(), **fields,
                                              "version": old.version + 1})
            return [Change(action, new, reason=reason)]

        self._transact(scope, plan)
        return self.get(entry_id)

    def pin(self, entry_id: str, pinned: bool = True) -> MemoryEntry:
        return self.edit(entry_id, action="pin" if pinned else "unpin", pinned=pinned)

    def archive(self, entry_id: str, reason: str = "removed by user") -> MemoryEntry:
        return self.edit(entry_id, action="archive", reason=reason, status="archived")

    def put_entries(self, scope: str, entries: list[MemoryEntry], action: str = "import",
                    reason: str | None = None) -> list[str]:
        """Write whole entries into `scope` (import): an id already in the scope gets the given
        content as a new version; an id used by another scope gets a fresh id; a new id keeps
        its id and counters. Returns the ids written."""
        with Session(self.engine) as s:
            elsewhere = set(s.scalars(select(EntryRow.id).where(
                EntryRow.id.in_([e.id for e in entries]), EntryRow.scope != scope)))
        incoming = [e.model_copy(update={"scope": scope,
                                         "id": new_entry_id() if e.id in elsewhere else e.id})
                    for e in entries]

        def plan(_v: int, cur: dict[str, MemoryEntry]) -> list[Change]:
            changes = []
            for e in incoming:
                old = cur.get(e.id)
                if old is None:
                    changes.append(Change(action, e.model_copy(update={"version": 1}), new=True,
                                          reason=reason))
                elif old.content() != e.content():
                    changed = old.model_copy(update={**e.content(), "version": old.version + 1})
                    changes.append(Change(action, changed, reason=reason))
            return changes

        return [c.entry.id for c in self._transact(scope, plan)[2]]

    # ---- curation --------------------------------------------------------------------------
    def apply(self, scope: str, ops: Any, provenance: Provenance | None = None,
              gated_by: VerdictLike = None, gating: bool | None = None,
              prior_rejections: list[Rejection] | None = None,
              raw: str | None = None, run_id: str | None = None,
              seen_versions: dict[str, int] | None = None) -> CurationResult:
        """Validate `ops` against the current sheet and apply the accepted ones in one
        transaction. `gated_by` is the verdict of the answer the ops were learned from;
        `seen_versions` the entry versions the curator was shown (stale edits are rejected)."""
        if hasattr(ops, "ops"):  # a curator Proposal: take its ops, schema rejections and raw reply
            prior_rejections = [*(prior_rejections or []), *ops.rejected]
            raw = raw if raw is not None else ops.raw
            ops = ops.ops
        provenance = provenance or Provenance(run_id=run_id)
        run_id = run_id or provenance.run_id
        passed = verdict_passed(gated_by)
        gate = self.policy.gating if gating is None else gating
        outcome: dict[str, Any] = {}

        def plan(_v: int, cur: dict[str, MemoryEntry]) -> list[Change]:
            ok, rejected = validate_ops(ops, cur, self.policy, seen_versions)
            changes, accepted, gated = plan_curation(scope, ok, cur, provenance, passed, gate)
            outcome.update(accepted=accepted,
                           rejected=[r.model_dump() for r in [*rejected, *gated]])
            return changes

        def result_of(before: int, changes: list[Change]) -> CurationResult:
            rejected = [r.model_dump() for r in prior_rejections or []] + outcome["rejected"]
            status = ("noop" if not changes and not rejected else "applied" if not rejected else
                      "partial" if changes else "rejected")
            return CurationResult(status=status, accepted=outcome["accepted"], rejected=rejected,
                                  version_before=before, version_after=before + len(changes),
                                  changed_ids=[c.entry.id for c in changes])

        def record(s: Session, before: int, changes: list[Change]) -> None:
            # With the sheet's changes, in their transaction: a kill cannot leave a sheet
            # changed by a curation that is not recorded (a resumed run would curate again).
            s.add(self._curation_row(scope, result_of(before, changes), raw, run_id,
                                     provenance.problem_id))

        before, _after, changes = self._transact(scope, plan, run_id=run_id, also=record)
        result = result_of(before, changes)
        if not changes:  # nothing was written above
            self.record_curation(scope, result, raw=raw, run_id=run_id,
                                 problem_id=provenance.problem_id)
        return result

    def record_curation(self, scope: str, result: CurationResult, raw: str | None = None,
                        run_id: str | None = None, problem_id: str | None = None) -> None:
        with Session(self.engine) as s, s.begin():
            s.add(self._curation_row(scope, result, raw, run_id, problem_id))

    @staticmethod
    def _curation_row(scope: str, result: CurationResult, raw: str | None, run_id: str | None,
                      problem_id: str | None) -> CurationRow:
        return CurationRow(scope=scope, run_id=run_id, problem_id=problem_id,
                           status=result.status, raw=raw, accepted=result.accepted,
                           rejected=result.rejected, version_before=result.version_before,
                           version_after=result.version_after)

    def curated(self, scope: str, run_id: str | None, problem_id: str | None) -> bool:
        """Whether the run's problem was curated already (a resumed run must not curate it
        again: the sheet would learn from it twice)."""
        if run_id is None or problem_id is None:
            return False
        with Session(self.engine) as s:
            return s.scalar(select(CurationRow.id).where(
                CurationRow.scope == scope, CurationRow.run_id == run_id,
                CurationRow.problem_id == problem_id).limit(1)) is not None

    def curations(self, scope: str, limit: int = 50) -> list[dict[str, Any]]:
        with Session(self.engine) as s:
            rows = s.scalars(select(CurationRow).where(CurationRow.scope == scope)
                             .order_by(CurationRow.id.desc()).limit(limit)).all()
            return [{"id": r.id, "status": r.status, "run_id": r.run_id, "problem_id": r.problem_id,
                     "accepted": r.accepted, "rejected": r.rejected,
                     "version_before": r.version_before, "version_after": r.version_after,
                     "raw": r.raw} for r in rows]

    # ---- outcomes and past problems --------------------------------------------------------
    def record_outcome(self, entry_ids: list[str], verdict: VerdictLike, run_id: str | None = None,
                       attempt_id: str | None = None) -> None:
        """An attempt whose prompt held `entry_ids` got `verdict`: `used` moves for each, and
        `helped` (passed) or `hurt` (failed); an unknown verdict moves `used` only. Atomic
        increments, so parallel attempts never lose a count. An attempt (`run_id` and
        `attempt_id`) counts once: a resumed run that replays it moves nothing."""
        ids = sorted(set(entry_ids))
        if not ids:
            return
        passed = verdict_passed(verdict)
        with Session(self.engine) as s, s.begin():
            if run_id is not None and attempt_id is not None and s.scalar(
                    select(OutcomeRow.id).where(OutcomeRow.run_id == run_id,
                                                OutcomeRow.attempt_id == attempt_id).limit(1)):
                return
            s.execute(update(EntryRow).where(EntryRow.id.in_(ids)).values(
                used=EntryRow.used + 1, helped=EntryRow.helped + int(passed is True),
                hurt=EntryRow.hurt + int(passed is False)))
            scope = s.scalar(select(EntryRow.scope).where(EntryRow.id == ids[0])) or ""
            s.add(OutcomeRow(scope=scope, entry_ids=ids, passed=passed, run_id=run_id,
                             attempt_id=attempt_id))

    def record_problem(self, scope: str, problem: str, answer: str, verdict: VerdictLike = None,
                       problem_id: str | None = None, run_id: str | None = None,
                       score: float | None = None) -> PastProblem:
        """A past problem; a run's problem is recorded once (a resumed run that solves it
        again gets the first record back)."""
        row = ProblemRow(scope=scope, problem_id=problem_id, problem=problem, answer=answer,
                         passed=verdict_passed(verdict), score=score, run_id=run_id)
        with Session(self.engine) as s, s.begin():
            if run_id is not None and problem_id is not None:
                earlier = s.scalars(select(ProblemRow).where(
                    ProblemRow.scope == scope, ProblemRow.run_id == run_id,
                    ProblemRow.problem_id == problem_id).limit(1)).first()
                if earlier is not None:
                    return _problem(earlier)
            s.add(row)
            s.flush()
            past = _problem(row)
        if self.index is not None:
            try:
                self.index.upsert_problems(scope, [past])
            except Exception as exc:
                log.warning("memory: Chroma update failed for scope %s (%s); "
                            "run `crib memory reindex`", scope, exc)
        return past

    def problems(self, scope: str, ids: Iterable[int] | None = None,
                 passed_only: bool = False) -> list[PastProblem]:
        q = (select(ProblemRow).where(ProblemRow.scope == scope) if ids is None
             else _by_ids(ProblemRow, ids))
        if passed_only:
            q = q.where(ProblemRow.passed.is_(True))
        with Session(self.engine) as s:
            return [_problem(r) for r in s.scalars(q.order_by(ProblemRow.id)) if r.scope == scope]

    # ---- scopes and history ----------------------------------------------------------------
    def copy_scope(self, source: str, target: str) -> int:
        """Copy the live entries (active and quarantined) and past problems of `source` into a
        new scope `target` (for a test-split run that must not write into `source`)."""
        if self.version(target) or self.entries(target):
            raise ValueError(f"memory scope {target!r} already exists; choose a new name")
        self._ensure_scope(target, copied_from=source)
        originals = self.entries(source, status=("active", "quarantined"))
        copies = [e.model_copy(update={
            "id": new_entry_id(), "scope": target, "version": 1,
            "provenance": e.provenance.model_copy(
                update={"note": f"copied from {e.id} in {source}"})})
            for e in originals]
        self._transact(target, lambda v, cur: [
            Change("copy", c, new=True, reason=f"copied from {source}") for c in copies])
        for p in self.problems(source):
            self.record_problem(target, p.problem, p.answer, p.passed, p.problem_id, p.run_id,
                                p.score)
        return len(copies)

    def history(self, scope: str, entry_id: str | None = None) -> list[MemoryEvent]:
        return history.read_events(self.engine, scope, entry_id)

    def state_at(self, scope: str, version: int) -> dict[str, dict[str, Any]]:
        return history.state_at(history.read_events(self.engine, scope, upto=version), version)

    def diff(self, scope: str, v1: int, v2: int) -> SheetDiff:
        events = history.read_events(self.engine, scope, upto=max(v1, v2))
        return history.diff_states(history.state_at(events, v1), history.state_at(events, v2),
                                   v1, v2)

    def rollback(self, scope: str, version: int) -> int:
        """Restore the sheet's content to what it was at `version`, as new events. Returns the
        new sheet version."""
        current = self.version(scope)
        if not 0 <= version <= current:
            raise ValueError(f"memory scope {scope!r} has versions 0..{current}, not {version}")
        past = self.state_at(scope, version)
        reason = f"rollback to version {version}"

        def plan(_v: int, cur: dict[str, MemoryEntry]) -> list[Change]:
            targets = history.rollback_targets(cur, past)
            return [Change("rollback", t.model_copy(update={"version": t.version + 1}),
                           reason=reason) for t in targets]

        return self._transact(scope, plan)[1]

    # ---- retrieval and rendering -----------------------------------------------------------
    def render(self, scope: str, problem_text: str = "", token_budget: int = 1500,
               kinds: tuple[str, ...] | None = None, exclude: Collection[str] = ()):
        """The active sheet as prompt text within `token_budget` (deterministic); only entries
        of `kinds` when given, and none of the ids in `exclude`."""
        active = [e for e in self.entries(scope, status="active")
                  if (kinds is None or e.kind in kinds) and e.id not in exclude]
        relevance = self.index.relevance(scope, problem_text, [e.id for e in active]) \
            if self.index is not None and problem_text and active else {}
        has_skills = any(e.kind == "skill" for e in active)
        records = skill_records(self.engine, active) if has_skills else {}
        return render_sheet(active, relevance, token_budget, self.count_tokens, self.version(scope),
                            records)

    def search(self, scope: str, text: str, k: int = 5,
               status: str | None = "active") -> list[tuple[MemoryEntry, float]]:
        if self.index is None:
            raise RuntimeError("memory search needs a vector index (chroma_dir or chroma_url)")
        conditions = [] if status is None else [EntryRow.status == status]
        hits = self.index.query(scope, "entries", text, k,
                                lambda ids: self._ids_in(EntryRow, scope, ids, conditions))
        found = {e.id: e for e in self.entries(scope, status=status, ids=[i for i, _ in hits])}
        return [(found[i], score) for i, score in hits if i in found]

    def similar_problems(self, scope: str, text: str, k: int = 3,
                         passed_only: bool = False) -> list[tuple[PastProblem, float]]:
        if self.index is None:
            raise RuntimeError(
                "retrieval of past problems needs a vector index (chroma_dir or chroma_url)")
        conditions = [ProblemRow.passed.is_(True)] if passed_only else []
        hits = self.index.query(scope, "problems", text, k,
                                lambda ids: self._ids_in(ProblemRow, scope, [int(i) for i in ids],
                                                         conditions))
        found = {p.id: p for p in self.problems(scope, ids=[int(i) for i, _ in hits],
                                                passed_only=passed_only)}
        return [(found[int(i)], score) for i, score in hits if int(i) in found]

    def _ids_in(self, row: IndexedRow, scope: str, ids: list, conditions: list) -> set[str]:
        """Which of `ids` are rows of `scope` meeting `conditions` (the vector index's filter:
        only ids are read, the k winners are loaded whole afterwards)."""
        with self.engine.connect() as conn:
            got = conn.execute(select(row.id, row.scope).where(row.id.in_(ids), *conditions))
            return {str(i) for i, row_scope in got if row_scope == scope}

    def reindex(self, scope: str) -> dict[str, int]:
        """Rebuild the scope's Chroma collections from SQL."""
        if self.index is None:
            raise RuntimeError("reindex needs a vector index (chroma_dir or chroma_url)")
        return self.index.rebuild(scope, self.entries(scope), self.problems(scope))
