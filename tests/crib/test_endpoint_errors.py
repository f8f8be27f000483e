"""Configuration and endpoint errors through the real CLI: one clear line on stderr and exit 2,
never a traceback, and nothing solved (issue #14 item 7, issue #18 items 2 and 12)."""
import json
import socket
import sqlite3

import pytest

from tests.crib.test_solve_cli import crib, crib_env, game24_solver

SOLVE = ["solve", "--domain", "game24", "--limit", "2", "--agent", "cot", "--memory", "none"]


def one_clear_line(r) -> str:
    """The error line of a failed command; asserts it is exit 2 and no traceback."""
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_no_model_for_a_role_with_several_served_is_one_line(scripted_server, tmp_path):
    scripted_server.models = ["model-a", "model-b"]
    env = crib_env(scripted_server.url, tmp_path / "data")
    del env["CRIB_LLM__MODEL"]
    line = one_clear_line(crib(SOLVE, env, tmp_path))
    assert "role 'solver' has no model" in line and "model-a, model-b" in line
    assert "CRIB_LLM__MODEL" in line
    assert scripted_server.served == 0


def test_the_only_model_an_endpoint_serves_is_used(scripted_server, tmp_path):
    scripted_server.script(game24_solver)
    env = crib_env(scripted_server.url, tmp_path / "data")
    del env["CRIB_LLM__MODEL"]
    r = crib([*SOLVE, "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["accuracy"] == 1.0
    assert {q.body["model"] for q in scripted_server.chat_requests} == {"scripted-model"}


def test_unreachable_endpoint_stops_before_any_work(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = crib_env(f"http://127.0.0.1:{port}/v1", tmp_path / "data")
    line = one_clear_line(crib(SOLVE, env, tmp_path))
    assert f"cannot reach the model endpoint http://127.0.0.1:{port}/v1" in line
    # No run was started: nothing to resume, no errored problems.
    db = tmp_path / "data" / "crib.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == 0


def test_hung_endpoint_is_named_after_the_check_timeout(tmp_path):
    with socket.socket() as hung:  # accepts connections (backlog) and never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        env = crib_env(f"http://127.0.0.1:{hung.getsockname()[1]}/v1", tmp_path / "data")
        env["CRIB_LLM__TIMEOUT_S"] = "1"
        line = one_clear_line(crib(SOLVE, env, tmp_path))
    assert "did not answer within 1 s" in line


def test_refused_key_is_named(scripted_server, tmp_path):
    scripted_server.models_status = 401
    env = crib_env(scripted_server.url, tmp_path / "data")
    line = one_clear_line(crib(SOLVE, env, tmp_path))
    assert "refused $OPENAI_API_KEY (HTTP 401" in line
    assert "sk-test-never-leaks" not in line and scripted_server.served == 0


def test_credentials_in_the_base_url_are_refused_and_masked_everywhere(scripted_server, tmp_path):
    key = "sk-url-secret-0123456789"
    url = scripted_server.url.replace("http://", f"http://user:{key}@")
    env = crib_env(url, tmp_path / "data")
    r = crib(SOLVE, env, tmp_path)
    line = one_clear_line(r)
    assert "carries credentials" in line and "http://…@127.0.0.1" in line
    assert key not in r.stdout + r.stderr and not scripted_server.requests
    shown = crib(["config", "show", "--json"], env, tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert key not in shown.stdout
    assert json.loads(shown.stdout)["config"]["solver.base_url"].startswith("http://…@127.0.0.1")
    env["CRIB_DB_URL"] = "postgresql+psycopg://crib:db-password-42@127.0.0.1:1/crib"
    shown = crib(["config", "show", "--json"], env, tmp_path)
    assert "db-password-42" not in shown.stdout


@pytest.mark.parametrize("toml, expected", [
    ("[llm]\nmodel = \n", "crib.toml:2:9: invalid TOML"),
    ("[solvr]\nmodel = \"x\"\n", "unknown key 'solvr' in ./crib.toml; roles are"),
])
def test_bad_config_file_is_one_line_with_file_and_line(scripted_server, tmp_path, toml, expected):
    (tmp_path / "crib.toml").write_text(toml)
    env = crib_env(scripted_server.url, tmp_path / "data")
    for args in (SOLVE, ["config", "show"]):
        assert expected in one_clear_line(crib(args, env, tmp_path))


def test_failing_endpoint_is_named(scripted_server, tmp_path):
    scripted_server.models_status = 503
    env = crib_env(scripted_server.url, tmp_path / "data")
    line = one_clear_line(crib(SOLVE, env, tmp_path))
    assert f"the model endpoint {scripted_server.url} is failing (HTTP 503: " in line
    assert scripted_server.served == 0
