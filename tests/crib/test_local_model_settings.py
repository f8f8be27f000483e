"""The embedded server's defaults degrade gracefully under load: every core but one, yielding
waits when several threads meet, two slots; `local_threads`/`local_parallel` override them
(issue #18 item 13; figures in docs/local-model.md)."""
import os

from crib.agents.llm.local_server import LocalServer
from crib.config import load_config


def test_defaults_leave_a_core_free_and_never_spin_several_threads(tmp_path):
    server = LocalServer(tmp_path / "model.gguf")  # not started: the settings it would use
    cores = os.cpu_count() or 1
    assert server.threads == server.gen_threads == max(1, cores - 1)
    assert server.poll == (50 if server.gen_threads == 1 else 0)
    assert LocalServer(tmp_path / "m.gguf", threads=4).poll == 0
    assert LocalServer(tmp_path / "m.gguf", threads=4, poll=30).poll == 30


def test_local_threads_and_slots_come_from_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    cfg, _ = load_config(cwd=tmp_path)
    assert cfg.local_threads is None and cfg.local_parallel == 2
    monkeypatch.setenv("CRIB_LOCAL_THREADS", "2")
    (tmp_path / "crib.toml").write_text("local_parallel = 3\n")
    cfg, sources = load_config(cwd=tmp_path)
    assert (cfg.local_threads, cfg.local_parallel) == (2, 3)
    assert sources["local_threads"] == "environment" and sources["local_parallel"] == "./crib.toml"
