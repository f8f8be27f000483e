"""The SQL database: engine set-up (SQLite with WAL, or PostgreSQL by URL) and migrations.

Each layer owns its tables and its Alembic branch (`agents/migrations`, `memory/migrations`,
`meta_search/migrations`); this module upgrades every branch to its head.
"""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from sqlalchemy import Engine, create_engine, event

MIGRATION_PACKAGES = ("crib.agents", "crib.memory", "crib.meta_search")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def version_locations() -> list[str]:
    found = []
    for package in MIGRATION_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec and spec.submodule_search_locations:
            path = Path(next(iter(spec.submodule_search_locations))) / "migrations"
            if path.is_dir():
                found.append(str(path))
    return found


def _alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("version_locations", " ".join(version_locations()))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["engine"] = engine
    return cfg


def _file_heads() -> set[str] | None:
    """Every branch's head revision, read from the migration files with `ast` (importing
    Alembic costs ≈0.3 s at every start); None when a file is not in the plain form."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for location in version_locations():
        for path in Path(location).glob("*.py"):
            values = {}
            for node in ast.parse(path.read_text()).body:
                value: ast.expr | None
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target, value = node.targets[0], node.value
                elif isinstance(node, ast.AnnAssign):
                    target, value = node.target, node.value
                else:
                    continue
                if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                    if value is None:  # annotated, not assigned: not the plain form
                        return None
                    try:
                        values[target.id] = ast.literal_eval(value)
                    except ValueError:
                        return None
            if not isinstance(values.get("revision"), str):
                return None
            revisions.add(values["revision"])
            down = values.get("down_revision")
            parents.update([down] if isinstance(down, str) else down or ())
    return revisions - parents or None


def _current_heads(engine: Engine) -> set[str] | None:
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            return {row[0] for row in rows}
    except Exception:  # noqa: BLE001 - no table yet (a new database): Alembic decides
        return None


def migrate(engine: Engine) -> None:
    """Bring every layer's tables to their newest revision (idempotent). A database already at
    the heads the migration files name is left alone without importing Alembic."""
    heads = _file_heads()
    if heads is not None and _current_heads(engine) == heads:
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(engine)
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current != heads:
        command.upgrade(cfg, "heads")


def open_database(url: str) -> Engine:
    engine = make_engine(url)
    migrate(engine)
    return engine
