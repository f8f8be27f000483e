"""`crib memory ...` end to end through Typer's CliRunner on a real SQLite file and Chroma."""
import json

import pytest
from typer.testing import CliRunner


@pytest.fixture
def crib(tmp_path, monkeypatch):
    monkeypatch.setenv("CRIB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CRIB_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    from crib.cli import _register, app

    _register()
    runner = CliRunner()

    def invoke(*args, ok=True):
        result = runner.invoke(app, ["memory", *args])
        if ok:
            assert result.exit_code == 0, result.output
        return result

    def js(*args):
        return json.loads(invoke(*args, "--json").stdout.strip().splitlines()[-1])

    invoke.json = js
    return invoke


def test_cli_round_trip(crib, tmp_path):
    a = crib.json("add", "--scope", "g", "--kind", "pitfall", "--title", "Exact division",
                  "--body", "Use fractions.")
    b = crib.json("add", "--scope", "g", "--title", "Brute force",
                  "--body", "Try every order of numbers and operators.")
    assert a["status"] == "active" and a["kind"] == "pitfall"
    assert [e["id"] for e in crib.json("list", "--scope", "g")] == sorted([a["id"], b["id"]])
    assert crib.json("show", a["id"])["body"] == "Use fractions."
    hits = crib.json("search", "reach 24 by trying all orders", "--scope", "g", "-k", "1")
    assert hits[0]["id"] == b["id"]

    edited = crib.json("edit", a["id"], "--body", "Use fractions.Fraction for exact division.")
    assert edited["version"] == 2
    assert crib.json("pin", a["id"])["pinned"] is True
    assert crib.json("rm", b["id"])["status"] == "archived"
    assert [e["id"] for e in crib.json("list", "--scope", "g")] == [a["id"]]
    assert crib.json("show", a["id"], "--version", "2")["body"] == "Use fractions."

    history = crib.json("history", "--scope", "g")
    assert [h["action"] for h in history] == ["add", "add", "edit", "pin", "archive"]
    assert [h["seq"] for h in crib.json("history", a["id"])] == [1, 3, 4]
    diff = crib.json("diff", "2", "5", "--scope", "g")
    assert [r["id"] for r in diff["removed"]] == [b["id"]] and diff["changed"][0]["id"] == a["id"]
    assert crib.json("rollback", "2", "--scope", "g")["version"] == 7
    restored = {e["id"]: e for e in crib.json("list", "--scope", "g")}
    assert restored[a["id"]]["body"] == "Use fractions." and b["id"] in restored
    found = crib.json("search", "reach 24 by trying all orders", "--scope", "g", "-k", "1")
    assert found[0]["id"] == b["id"]

    out = tmp_path / "sheet.json"
    assert crib.json("export", str(out), "--scope", "g")["entries"] == 2
    assert crib.json("import", str(out), "--scope", "g2")["entries"] == 2
    copied = crib.json("list", "--scope", "g2")
    assert sorted(e["title"] for e in copied) == ["Brute force", "Exact division"]
    md = tmp_path / "sheet.md"
    crib("export", str(md), "--format", "md", "--scope", "g")
    assert "### Exact division" in md.read_text() and "Use fractions." in md.read_text()
    assert crib.json("reindex", "--scope", "g2") == {
        "scope": "g2", "index": str(tmp_path / "data" / "chroma"), "entries": 2, "problems": 0}
    stats = crib.json("stats", "--scope", "g")
    assert stats["entries"] == {"active": 2, "quarantined": 0, "archived": 0}
    assert stats["tokens_active"] > 0
    assert crib.json("copy", "g3", "--scope", "g")["entries"] == 2
    # human output works too
    assert "Exact division" in crib("list", "--scope", "g").stdout
    assert "restored" not in crib("stats", "--scope", "g").stdout


def test_cli_errors_are_clear(crib, tmp_path):
    r = crib("show", "m-nothere", ok=False)
    assert r.exit_code == 1 and "no memory entry 'm-nothere'" in r.output
    r = crib("add", "--title", "t", "--body", "[rest unchanged]", ok=False)
    assert r.exit_code == 1 and "placeholder" in r.output
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = crib("import", str(bad), ok=False)
    assert r.exit_code == 1 and "bad.json" in r.output
    r = crib("rollback", "9", ok=False)
    assert r.exit_code == 1 and "versions 0..0" in r.output


def test_titles_with_rich_markup_print_as_written(crib):
    """Titles are written by models: `[/b]` in one ended `crib memory list` in a MarkupError."""
    entry = crib.json("add", "--scope", "g", "--title", "Use [/b] brackets [bold]x",
                      "--body", "Keep [/a] as text.")
    for args in (("list", "--scope", "g"), ("list",), ("history", "--scope", "g"),
                 ("show", entry["id"]), ("diff", "0", "1", "--scope", "g"),
                 ("rm", entry["id"])):
        out = crib(*args).stdout
        assert "[/b]" in out and "Traceback" not in out, args
    assert "[/a]" in crib("show", entry["id"]).stdout


def test_list_without_scope_shows_every_scope(crib):
    """`crib solve` learns in a scope named after the domain; a bare `list` must show it."""
    crib.json("add", "--scope", "game24", "--title", "Fractions", "--body", "Try a / (b - c / d).")
    crib.json("add", "--scope", "chat", "--title", "Be brief", "--body", "Short answers.")
    assert sorted(e["scope"] for e in crib.json("list")) == ["chat", "game24"]
    out = crib("list").stdout
    assert "Fractions" in out and "game24" in out and "Be brief" in out
    assert [e["title"] for e in crib.json("list", "--scope", "game24")] == ["Fractions"]


def test_versions_that_do_not_exist_are_errors_not_empty_answers(crib):
    crib.json("add", "--scope", "g", "--title", "t", "--body", "b")
    r = crib("diff", "0", "99", "--scope", "g", ok=False)
    assert r.exit_code == 1 and "has versions 0..1, not 99" in r.output
    r = crib("list", "--scope", "g", "--version", "7", ok=False)
    assert r.exit_code == 1 and "not 7" in r.output


def test_import_errors_are_one_clear_line(crib, tmp_path):
    bad = tmp_path / "entries.json"
    bad.write_text(json.dumps({"format": "crib-memory/1", "scope": "x", "entries": [{"id": 3}]}))
    r = crib("import", str(bad), "--scope", "q", ok=False)
    assert r.exit_code == 1 and "entries.json" in r.output and "title: Field required" in r.output
    assert "pydantic.dev" not in r.output and "Traceback" not in r.output
    binary = tmp_path / "latin1.json"
    binary.write_bytes(b'{"title": "caf\xe9"}')
    r = crib("import", str(binary), ok=False)
    assert r.exit_code == 1 and "not UTF-8" in r.output
    r = crib("import", str(tmp_path / "missing.json"), ok=False)
    assert r.exit_code == 1 and "cannot read" in r.output
