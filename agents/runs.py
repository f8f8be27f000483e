"""Run records: a run's manifest and status, and the per-problem results that make resume exact.

A result row is keyed by (run, problem): writing it twice replaces it, so a resumed run never
counts a problem twice, and problems already in the table are not solved again.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select
from sqlalchemy.orm import Session

from crib.agents.attempts import save_attempts
from crib.agents.records import ResultRow, RunRow, utcnow

_INSERT_RESULT = insert(ResultRow)
_DELETE_RESULT = delete(ResultRow).where(ResultRow.run_id == bindparam("run"),
                                         ResultRow.problem_id == bindparam("problem"))

TRACKED_PACKAGES = ("crib", "langchain-openai", "langchain-core", "openai", "chromadb",
                    "pydantic", "sqlalchemy", "xllamacpp")


def new_run_id(mode: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{mode}-{stamp}-{uuid.uuid4().hex[:6]}"


def package_versions() -> dict[str, str]:
    found = {}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def git_revision() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def base_manifest(**extra: Any) -> dict[str, Any]:
    """What a run needs to be reproduced: code revision, packages, interpreter, plus `extra`."""
    return {
        "git_revision": git_revision(),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "pid": os.getpid(),
        **extra,
    }


class RunStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, run_id: str, mode: str, manifest: dict[str, Any]) -> None:
        with Session(self.engine) as s, s.begin():
            s.add(RunRow(id=run_id, mode=mode, status="running", manifest=manifest, summary={}))

    def get(self, run_id: str) -> RunRow | None:
        with Session(self.engine) as s:
            return s.get(RunRow, run_id)

    def set_status(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        with Session(self.engine) as s, s.begin():
            row = s.get(RunRow, run_id)
            if row is None:
                raise KeyError(f"run {run_id!r} is not in the database")
            row.status = status
            if summary is not None:
                row.summary = summary

    def results(self, run_id: str) -> list[dict[str, Any]]:
        with Session(self.engine) as s:
            rows = s.scalars(select(ResultRow).where(ResultRow.run_id == run_id)
                             .order_by(ResultRow.position))
            return [r.outcome for r in rows]

    def forget_errors(self, run_id: str) -> int:
        """Drop the results that ended in an error so `--retry-errors` solves them again."""
        with self.engine.begin() as conn:  # a Connection's result carries the rowcount
            gone = conn.execute(delete(ResultRow).where(ResultRow.run_id == run_id,
                                                        ResultRow.error.is_not(None)))
            return gone.rowcount or 0


def result_write(run_id: str, position: int, outcome: dict[str, Any],
                 attempts: list | None = None,
                 replace: bool = True) -> Callable[[Connection], None]:
    """`write(conn)` that replaces one problem's result row (and writes its attempts) in the
    connection's transaction, for the `SqlWriter` that commits many problems' rows together.
    `replace=False` skips deleting earlier rows of the problem: only for a run that cannot have
    any (a new run; an earlier row would then fail the insert rather than be counted twice).
    Core statements built once (an ORM merge costs a SELECT and several ms of CPU a problem)."""
    def write(conn: Connection) -> None:
        if attempts:
            save_attempts(conn, attempts, replace=replace)
        if replace:
            conn.execute(_DELETE_RESULT, {"run": run_id, "problem": outcome["problem_id"]})
        conn.execute(_INSERT_RESULT, {
            "run_id": run_id, "problem_id": outcome["problem_id"], "position": position,
            "score": outcome.get("score"), "passed": outcome.get("passed"),
            "error": outcome.get("error"), "outcome": outcome, "created_at": utcnow()})
    return write
