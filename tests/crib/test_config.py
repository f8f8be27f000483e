"""Config precedence: flags > CRIB_* environment > ./crib.toml > user config > defaults."""
import json
import os
import subprocess
import sys

import pytest

from crib.config import ConfigError, describe, load_config


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for key in list(os.environ):
        if key.startswith("CRIB_") or key in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
            monkeypatch.delenv(key)
    (tmp_path / "xdg" / "crib").mkdir(parents=True)
    (tmp_path / "proj").mkdir()
    return tmp_path


def test_each_layer_overrides_the_one_below(isolated, monkeypatch):
    user = isolated / "xdg" / "crib" / "config.toml"
    proj = isolated / "proj"
    cfg, src = load_config(cwd=proj)
    assert cfg.llm.temperature == 0.0 and src.get("llm.temperature") is None

    user.write_text('[llm]\ntemperature = 0.1\nmax_tokens = 111\n[solver]\nmodel = "u-model"\n')
    cfg, src = load_config(cwd=proj)
    assert cfg.role("solver").model == "u-model" and cfg.role("solver").temperature == 0.1
    assert src["llm.temperature"].startswith("user config")

    (proj / "crib.toml").write_text('[llm]\ntemperature = 0.2\n')
    cfg, src = load_config(cwd=proj)
    assert cfg.llm.temperature == 0.2 and cfg.llm.max_tokens == 111
    assert src["llm.temperature"] == "./crib.toml" and src["llm.max_tokens"].startswith("user")

    monkeypatch.setenv("CRIB_LLM__TEMPERATURE", "0.3")
    monkeypatch.setenv("CRIB_SOLVER__MODEL", "env-model")
    cfg, src = load_config(cwd=proj)
    assert cfg.llm.temperature == 0.3 and cfg.role("solver").model == "env-model"
    assert src["llm.temperature"] == "environment"

    cfg, src = load_config({"llm": {"temperature": 0.4}}, cwd=proj)
    assert cfg.llm.temperature == 0.4 and src["llm.temperature"] == "flag"
    assert cfg.role("curator").temperature == 0.4  # roles inherit the shared section


def test_openai_base_url_applies_to_every_role_unless_overridden(isolated, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://example.invalid/v1")
    (isolated / "proj" / "crib.toml").write_text('[judge]\nbase_url = "http://judge.invalid/v1"\n')
    cfg, _ = load_config(cwd=isolated / "proj")
    assert cfg.role("solver").base_url == "http://example.invalid/v1"
    assert cfg.role("judge").base_url == "http://judge.invalid/v1"
    assert not cfg.needs_local_model
    monkeypatch.delenv("OPENAI_BASE_URL")
    cfg, _ = load_config(cwd=isolated / "proj")
    assert cfg.needs_local_model


def test_broken_toml_and_bad_values_are_clear_errors(isolated):
    proj = isolated / "proj"
    (proj / "crib.toml").write_text('cache = "on"\n[llm\n')
    with pytest.raises(ConfigError, match=r"crib.toml:2:5: invalid TOML: Expected '\]'") as err:
        load_config(cwd=proj)
    assert "\n" not in str(err.value)
    (proj / "crib.toml").write_text('cache = "sometimes"\n')
    bad_value = r"cache = 'sometimes' \(from ./crib.toml\): Input"
    with pytest.raises(ConfigError, match=bad_value) as err:
        load_config(cwd=proj)
    assert "\n" not in str(err.value)


def test_unknown_roles_and_keys_are_errors_not_ignored(isolated, monkeypatch):
    proj = isolated / "proj"
    (proj / "crib.toml").write_text('[solvr]\nmodel = "m"\n')
    with pytest.raises(ConfigError, match=r"unknown key 'solvr' in ./crib.toml; roles are solver"):
        load_config(cwd=proj)
    (proj / "crib.toml").write_text('[judge]\nmodle = "m"\n')
    with pytest.raises(ConfigError, match=r"unknown key judge.modle in ./crib.toml"):
        load_config(cwd=proj)
    (proj / "crib.toml").write_text("")
    monkeypatch.setenv("CRIB_SANDBOX__TIMEOUT", "5")
    with pytest.raises(ConfigError, match=r"unknown key sandbox.timeout in environment"):
        load_config(cwd=proj)


def test_show_masks_secrets_and_names_sources(isolated, monkeypatch):
    secret = "sk-test-1234567890abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("CRIB_META__MODEL", "gpt-4o")
    out = subprocess.run(
        [sys.executable, "-m", "crib", "config", "show", "--json"],
        capture_output=True, text=True, cwd=isolated / "proj", check=True,
    ).stdout
    assert secret not in out
    data = json.loads(out)
    assert data["config"]["meta.model"] == "gpt-4o"
    assert data["sources"]["meta.model"] == "environment"
    assert data["config"]["solver.api_key"].startswith("sk-")
    assert data["sources"]["solver.api_key"] == "$OPENAI_API_KEY"
    cfg, src = load_config(cwd=isolated / "proj")
    assert all(secret not in str(r["value"]) for r in describe(cfg, src))


@pytest.mark.parametrize("name, value, said", [
    ("CRIB_LOCAL_CTX", "abc", "CRIB_LOCAL_CTX = 'abc': Input should be a valid integer"),
    ("CRIB_LLM", "{", "CRIB_LLM = '{': Input should be a valid dictionary"),
    ("CRIB_LLM__TEMPERATURE", "hot", "llm.temperature = 'hot' (from environment)"),
])
def test_bad_environment_values_are_one_line_and_exit_2(isolated, name, value, said):
    env = {**os.environ, name: value}
    r = subprocess.run([sys.executable, "-m", "crib", "config", "show"], capture_output=True,
                       text=True, cwd=isolated / "proj", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and said in r.stderr, r.stderr
