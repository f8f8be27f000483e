"""`crib config show` prints values as written, also ones Rich would read as markup."""
from typer.testing import CliRunner


def test_config_show_prints_a_markup_value_as_written(tmp_path, monkeypatch):
    monkeypatch.setenv("CRIB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "crib.toml").write_text('[llm]\nmodel = "odd [/b] model"\n')
    from crib.cli import _register, app

    _register()
    r = CliRunner().invoke(app, ["config", "show"])
    assert r.exit_code == 0, r.output
    assert "odd [/b] model" in r.stdout
