"""`crib view`: a local, read-only web app over Crib's database (Starlette + Jinja2).

Safe by construction, since every text shown may come from a model:
- Jinja2 autoescapes every value; the only markup not escaped by it is Pygments' highlighted
  code and the diff lines, which Pygments and `markupsafe.escape` escape themselves;
- the pages carry no JavaScript: charts are SVG drawn on the server (crib/view/charts.py) and
  shown through <img>, which never runs script; the Content-Security-Policy forbids scripts,
  objects, frames and any load from another origin, so even a slip in escaping runs nothing;
- GET routes only (Starlette answers 405 to anything else), and the database is opened read-only
  (SQLite `mode=ro`; PostgreSQL `default_transaction_read_only`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from crib.view import charts, memory_queries, queries, search_queries

HERE = Path(__file__).parent
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"content-security-policy": CSP, "x-content-type-options": "nosniff",
                    "referrer-policy": "no-referrer", "x-frame-options": "DENY",
                    "cache-control": "no-store"}


def readonly_engine(url: str) -> Engine:
    """An engine that cannot write: SQLite opened with mode=ro, PostgreSQL sessions read-only."""
    from sqlalchemy import create_engine

    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if not path or path == ":memory:" or not Path(path).is_file():
            raise FileNotFoundError(f"no database file at {path or url!r}")
        return create_engine(f"sqlite:///file:{Path(path).resolve()}?mode=ro&uri=true")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True,
                         connect_args={"options": "-c default_transaction_read_only=on"})


def _templates():
    from jinja2 import Environment, FileSystemLoader, ChainableUndefined, select_autoescape

    from crib.view import render

    env = Environment(loader=FileSystemLoader(HERE / "templates"), undefined=ChainableUndefined,
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters.update(render.FILTERS)
    env.globals.update(render.GLOBALS)
    return env


def create_app(engine: Engine):
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from crib.view.render import pygments_css

    env = _templates()

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**context), status_code=status)

    def missing(what: str) -> HTMLResponse:
        return page("missing.html", 404, title="not found", what=what)

    async def runs_page(request):
        q = request.query_params
        filters = {k: q.get(k, "") for k in ("mode", "status", "domain", "text")}
        rows = queries.runs(engine, **filters)
        return page("runs.html", title="runs", runs=rows, filters=filters)

    async def run_page(request):
        run_id = request.path_params["run_id"]
        run = queries.run(engine, run_id)
        if run is None:
            return missing(f"run {run_id}")
        if run["mode"] == "search":
            return search_page(run)
        failures = request.query_params.get("failures") == "1"
        problems = queries.solve_problems(engine, run_id)
        shown = [p for p in problems if p["failed"]] if failures else problems
        curve = queries.learning(problems, run["summary"])
        return page("solve.html", title=run_id, run=run, problems=shown, failures=failures,
                    total=len(problems), curve=curve,
                    loose=queries.loose_call_count(engine, run_id))

    async def calls_page(request):
        run_id = request.path_params["run_id"]
        run = queries.run(engine, run_id)
        if run is None:
            return missing(f"run {run_id}")
        return page("calls.html", title=f"calls of {run_id}", run=run,
                    calls=queries.loose_calls(engine, run_id))

    async def curve_svg(request):
        run_id = request.path_params["run_id"]
        run = queries.run(engine, run_id)
        problems = queries.solve_problems(engine, run_id)
        curve = queries.learning(problems, run["summary"] if run else None)
        return Response(charts.learning_curve(queries.running_accuracy(problems), curve.cold,
                                              curve.warm), media_type="image/svg+xml")

    def search_page(run: dict) -> HTMLResponse:
        data = search_queries.search_run(engine, run["id"])
        if data is None:
            return missing(f"search run {run['id']}")
        return page("search.html", title=run["id"], run=run, s=data,
                    loose=queries.loose_call_count(engine, run["id"]),
                    progress=search_queries.by_generation(
                        data["entries"], data["spend"].get("history") or []))

    async def progress_svg(request):
        data = search_queries.search_run(engine, request.path_params["run_id"])
        if data is None:
            return Response("no such search run", status_code=404, media_type="text/plain")
        points = search_queries.by_generation(data["entries"],
                                              data["spend"].get("history") or [])
        return Response(charts.search_progress(points), media_type="image/svg+xml")

    async def entry_page(request):
        run_id, entry_id = request.path_params["run_id"], request.path_params["entry_id"]
        data = search_queries.search_run(engine, run_id)
        entry = next((e for e in data["entries"] if e.id == entry_id), None) if data else None
        if entry is None:
            return missing(f"entry {entry_id} of search run {run_id}")
        by_id = {e.id: e for e in data["entries"]}
        parent = next((by_id[p] for p in entry.parents if p in by_id), None)
        diff = (search_queries.code_diff(parent.code, entry.code, parent.name, entry.name)
                if parent else [])
        policy = (data["config"] or {}).get("loop") or "single"
        return page("entry.html", title=f"{entry.name} ({run_id})", s=data, e=entry,
                    parent=parent, diff=diff,
                    evaluations=search_queries.evaluations(engine, entry, policy))

    async def attempt_page(request):
        attempt_id = request.path_params["attempt_id"]
        a = queries.attempt(engine, attempt_id)
        if a is None:
            return missing(f"attempt {attempt_id}")
        entries = []
        if a["memory_entry_ids"]:
            from crib.memory.store import MemoryStore

            store = MemoryStore(engine)
            for entry_id in a["memory_entry_ids"]:
                try:
                    entries.append(store.get(entry_id))
                except KeyError:  # deleted since: the others still show
                    continue
        return page("attempt.html", title=attempt_id, a=a, entries=entries)

    async def scopes_page(request):
        return page("scopes.html", title="memory", scopes=memory_queries.scopes(engine))

    async def scope_page(request):
        name = request.path_params["scope"]
        q = request.query_params
        try:
            v1 = int(q["v1"]) if q.get("v1") else None
            v2 = int(q["v2"]) if q.get("v2") else None
        except ValueError:
            return page("missing.html", 400, title="bad request",
                        what="versions v1 and v2 must be whole numbers")
        data = memory_queries.scope(engine, name, v1, v2)
        if data is None:
            return missing(f"memory scope {name}")
        return page("scope.html", title=f"memory: {name}", m=data)

    async def pygments(request):
        return Response(pygments_css(), media_type="text/css")

    async def security_headers(scope, receive, send, app):
        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.decode().lower() not in SECURITY_HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)
        await app(scope, receive, send_with_headers)

    routes = [
        Route("/", runs_page),
        Route("/runs/{run_id}", run_page),
        Route("/runs/{run_id}/curve.svg", curve_svg),
        Route("/runs/{run_id}/calls", calls_page),
        Route("/search/{run_id}/progress.svg", progress_svg),
        Route("/search/{run_id}/entries/{entry_id:int}", entry_page),
        Route("/attempts/{attempt_id:path}", attempt_page),
        Route("/memory", scopes_page),
        Route("/memory/{scope:path}", scope_page),
        Route("/static/pygments.css", pygments),
        Mount("/static", StaticFiles(directory=HERE / "static")),
    ]
    async def database_error(request, exc):
        # An older database (no transcript tables yet) or one that went away: say so, no trace.
        return page("missing.html", 500, title="database error",
                    what=f"the database could not answer ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:300]}); an older database is upgraded "
                         "by any crib command that writes, e.g. crib runs stats")

    from sqlalchemy.exc import SQLAlchemyError

    inner = Starlette(routes=routes, exception_handlers={SQLAlchemyError: database_error})

    async def app(scope, receive, send):
        if scope["type"] == "http":
            await security_headers(scope, receive, send, inner)
        else:
            await inner(scope, receive, send)
    return app
