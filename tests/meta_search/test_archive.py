"""Archive behaviour: duplicates detected and kept, idempotent writes, fitness records,
strategy views within their token budget, and the dashboard rendering."""
import pytest
from rich.console import Console

from crib.meta_search.archive import Archive, Outcome, code_hash
from crib.meta_search.dashboard import SearchDashboard
from crib.meta_search.search import SearchConfig, create_run, update_config
from crib.meta_search.strategies import approx_tokens, make_strategy

CODE = "def forward(self, taskInfo):\n    return 'x'\n"


def _archive(engine):
    create_run(engine, "run1", SearchConfig(domain="game24"))
    return Archive(engine, "run1")


def test_duplicate_code_is_detected_and_kept(engine):
    a = _archive(engine)
    first = a.add_entry(generation=1, slot=0, origin="meta", name="a", thought="", code=CODE)
    # Same program, different comments and spacing: same syntax tree.
    copy = "# a copy\ndef forward(self,   taskInfo):\n    return 'x'   # same\n"
    assert code_hash(copy) == code_hash(CODE)
    dup = a.add_entry(generation=2, slot=0, origin="meta", name="b", thought="", code=copy)
    assert dup.status == "rejected" and dup.duplicate_of == first.id
    assert f"duplicate of #{first.id}" in dup.reason
    assert len(a.entries()) == 2
    # Two generations without a usable proposal: their placeholders (comments only) share a
    # syntax tree, and each keeps the reason it was rejected for.
    for g in (3, 4):
        gone = a.add_entry(generation=g, slot=0, origin="designer", name=f"gen{g}-unusable",
                           thought="", code=f"# generation {g}: no usable design\n",
                           status="rejected", reason=f"no usable design {g}")
        assert gone.status == "rejected" and gone.reason == f"no usable design {g}"


def test_run_rows_are_required_and_configs_merged(engine):
    a = _archive(engine)
    assert a.require_run().config["domain"] == "game24"
    stored = update_config(engine, "run1", extra={"test_size": 8}, generations=3)
    assert stored["extra"] == {"test_size": 8} and stored["generations"] == 3
    assert a.require_run().config == stored and stored["strategy"] == "adas"
    with pytest.raises(KeyError, match="no search run 'other'"):
        Archive(engine, "other").require_run()
    with pytest.raises(KeyError, match="no search run 'other'"):
        update_config(engine, "other", generations=1)


def test_writes_are_idempotent_for_resume(engine):
    a = _archive(engine)
    e = a.add_entry(generation=1, slot=0, origin="meta", name="a", thought="", code=CODE)
    again = a.add_entry(generation=1, slot=0, origin="meta", name="other", thought="",
                        code="def forward(self, t):\n    return 2\n")
    assert again.id == e.id and again.name == "a"
    assert a.record(e.id, "validation", 0, Outcome(problem_id="p1", score=1.0))
    assert not a.record(e.id, "validation", 0, Outcome(problem_id="p1", score=0.0))
    assert a.evaluations(e.id, "validation")["p1"].score == 1.0


def test_fitness_records_seed_n_and_resamples(engine):
    a = _archive(engine)
    e = a.add_entry(generation=1, slot=0, origin="meta", name="a", thought="", code=CODE)
    outs = [Outcome(problem_id=f"p{i}", score=float(i % 2)) for i in range(10)]
    fit = a.set_fitness(e.id, "validation", outs, seed=3, n_resamples=1000, halves=True)
    assert (fit.n, fit.seed, fit.n_resamples) == (10, 3, 1000)
    assert fit.ci_low <= fit.median <= fit.ci_high and fit.mean == 0.5
    assert fit.cold == 0.4 and fit.warm == 0.6
    assert a.best().id == e.id


def _filled(engine, n=12):
    a = _archive(engine)
    for i in range(n):
        e = a.add_entry(generation=i, slot=0, origin="meta", name=f"agent{i}", thought="t" * 200,
                        code=CODE.replace("'x'", f"'{i}'" + " " * 0) + "#" * 300)
        a.set_fitness(e.id, "validation", [Outcome(problem_id="p", score=i / n),
                                           Outcome(problem_id="q", score=i / n)], seed=0,
                      n_resamples=200)
    a.add_entry(generation=n, slot=0, origin="meta", name="broken", thought="", code="x",
                status="smoke_failed", reason="NameError in forward")
    return a


def test_adas_view_best_first_within_budget(engine):
    a = _filled(engine)
    view = make_strategy("adas").view(a, generation=13, token_budget=600)
    assert approx_tokens(view.text) <= 700  # budget plus the failed-candidates tail
    best = a.best()
    assert view.shown[0] == best.id and view.parents == [best.id]
    assert len(view.shown) < 12
    assert "broken" in view.text and "NameError" in view.text


def test_evolve_view_elites_plus_diverse_parents(engine):
    a = _filled(engine)
    view = make_strategy("evolve").view(a, generation=5, token_budget=5000)
    top3 = [e.id for e in a.leaderboard()[:3]]
    assert view.parents[:3] == top3 and len(view.parents) == 5
    assert make_strategy("evolve").view(a, generation=5, token_budget=5000).parents == view.parents


def test_dashboard_renders(engine):
    a = _filled(engine, n=3)
    dash = SearchDashboard(a)
    dash.generation(2, 5)
    dash.stage(a.entries()[-1], "smoke")
    dash.error("gen 2 broken: smoke_failed: NameError")
    console = Console(record=True, width=120, color_system=None)
    console.print(dash.render())
    out = console.export_text()
    for needle in ("agent2", "val median", "generation 2/5", "stage smoke", "NameError",
                   "smoke_failed"):
        assert needle in out
    # The best seed's training problems (demonstrations) are a stage of their own.
    dash.outcome(a.entries()[0], "train", None)
    dash.outcome(a.entries()[0], "train", None)
    console.print(dash.render())
    assert "agent0 (#1)  stage training problems, for demonstrations (2 problems done)" in (
        console.export_text())


def test_cli_archive_import_list_show_export(tmp_path):
    """`crib archive import` of an ADAS JSON list, then list/show --json and export."""
    import json
    import os
    import subprocess
    import sys

    code = "def forward(self, taskInfo):\n    return taskInfo.content\n"
    src = tmp_path / "adas.json"
    src.write_text(json.dumps([{"name": "Echo", "thought": "Echo the task.", "code": code,
                                "fitness": "Median: 1.0%", "generation": 3}]))
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    env = dict(os.environ, CRIB_DATA_DIR=str(tmp_path / "data"))
    crib = [sys.executable, "-m", "crib"]

    def run(*args):
        r = subprocess.run([*crib, *args, "--db", db], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
        return r.stdout

    [row] = [json.loads(x) for x in run("archive", "import", str(src), "--domain", "game24",
                                         "--json").splitlines()]
    assert row["origin"] == "import" and row["name"] == "Echo"
    listed = [json.loads(x) for x in run("archive", "list", row["run_id"], "--json").splitlines()]
    assert [e["name"] for e in listed] == ["Echo"]
    shown = json.loads(run("archive", "show", str(row["id"]), "--json"))
    assert shown["code"] == code and shown["history"][0]["adas_fitness"] == "Median: 1.0%"
    out = tmp_path / "echo.py"
    run("archive", "export", str(row["id"]), str(out))
    assert out.read_text().startswith('"""Echo the task.') and code.strip() in out.read_text()
    bad = subprocess.run([*crib, "archive", "show", "999", "--db", db], capture_output=True,
                         text=True, env=env)
    assert bad.returncode != 0 and "no archive entry #999" in bad.stderr
