"""`crib archive import` of archives in the shape ADAS published (results/*.json): a `thought`
that is sometimes a JSON object, `generation` "initial" or a number, `fitness` text or absent;
and `crib archive` printing names written by models (`broken [/b]`) as written."""
import json

import pytest
from typer.testing import CliRunner

CODE = ("def forward(self, taskInfo):\n"
        "    agent = LLMAgentBase(['thinking', 'answer'], 'Chain-of-Thought Agent')\n"
        "    thinking, answer = agent([taskInfo], 'Think step by step, then answer.')\n"
        "    return answer\n")

PUBLISHED_SHAPE = [
    {"thought": "Think step by step before answering.", "name": "Chain-of-Thought", "code": CODE,
     "generation": "initial",
     "fitness": "95% Bootstrap Confidence Interval: (22.7%, 38.3%), Median: 30.5%",
     "test_fitness": "95% Bootstrap Confidence Interval: (24.9%, 31.1%), Median: 28.0%"},
    {"thought": {"**Insights:**": "Agents that check each other catch slips.",
                 "**Overall Idea:**": "Two solvers and a judge.",
                 "**Implementation:**": "Ask twice, then compare."},
     "name": "broken [/b] ensemble", "code": CODE, "generation": 3},
    {"thought": "No code at all.", "name": "Empty", "generation": 4},
    {"thought": "Cut off.", "name": "Cut", "code": "def forward(self, taskInfo):\n    return (",
     "generation": 5, "fitness": "95% Bootstrap Confidence Interval: (1.0%, 2.0%), Median: 1.5%"},
]


@pytest.fixture
def crib(tmp_path, monkeypatch):
    monkeypatch.setenv("CRIB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CRIB_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    from crib.cli import _register, app

    _register()
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, ["archive", *args])
    return invoke


def test_published_archive_imports_usable_entries_and_reports_the_others(crib, tmp_path):
    path = tmp_path / "mgsm_results.json"
    path.write_text(json.dumps(PUBLISHED_SHAPE))
    r = crib("import", str(path), "--domain", "math-numeric", "--json")
    assert r.exit_code == 0, r.output
    entries = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert [e["name"] for e in entries] == ["Chain-of-Thought", "broken [/b] ensemble"]
    assert "item 2 skipped: needs a non-empty string `code`" in r.stderr
    assert "item 3 skipped: code has a syntax error on line 2" in r.stderr

    second = entries[1]["id"]
    shown = crib("show", str(second))
    assert shown.exit_code == 0, shown.output
    # the object thought is kept as text, its sections in order
    text = shown.stdout
    assert text.index("**Insights:**") < text.index("**Overall Idea:**") < text.index(
        "Ask twice, then compare.")
    assert "broken [/b] ensemble" in text

    for args in (("list",), ("list", "--runs"), ("diff", str(entries[0]["id"]), str(second)),
                 ("export", str(second), str(tmp_path / "agent.py"))):
        r = crib(*args)
        assert r.exit_code == 0 and "Traceback" not in r.output, (args, r.output)
    assert "broken [/b]" in crib("list").stdout
    compile((tmp_path / "agent.py").read_text(), "agent.py", "exec")  # parsed, not run


def test_unreadable_archives_are_one_line_errors(crib, tmp_path):
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(b'[{"name": "caf\xe9", "code": "x"}]')
    nothing = tmp_path / "nothing.json"
    nothing.write_text(json.dumps([{"name": "no code"}]))
    for path, said in ((latin1, "not UTF-8"), (nothing, "no usable agent"),
                       (tmp_path / "missing.json", "cannot read")):
        r = crib("import", str(path), "--domain", "game24")
        assert r.exit_code == 1 and said in r.output and "Traceback" not in r.output, r.output
    r = crib("import", str(nothing), "--domain", "chess")  # checked before the file is read
    assert r.exit_code == 2 and "unknown domain 'chess'" in r.output


def test_search_dashboard_shows_a_markup_name_as_written(crib, tmp_path):
    """`crib search --resume` renders the leaderboard: a name like `broken [/b]` broke it."""
    from rich.console import Console

    from crib.meta_search.archive import Archive
    from crib.meta_search.dashboard import SearchDashboard
    from crib.storage import open_database

    path = tmp_path / "archive.json"
    path.write_text(json.dumps(PUBLISHED_SHAPE[:2]))
    [line] = [x for x in crib("import", str(path), "--domain", "game24", "--json").stdout
              .splitlines() if "broken" in x]
    engine = open_database(f"sqlite:///{tmp_path / 'data' / 'crib.db'}")
    try:
        archive = Archive(engine, json.loads(line)["run_id"])
        dash = SearchDashboard(archive)
        dash.stage(archive.entries()[-1], "smoke")
        console = Console(record=True, width=120, color_system=None)
        console.print(dash.render())
    finally:
        engine.dispose()
    out = console.export_text()
    assert "broken [/b] ensemble" in out and "stage smoke" in out
