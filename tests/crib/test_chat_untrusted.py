"""`crib chat` with input Rich would read as markup, a /save that cannot be written, and a slow
model: the session goes on, and a "thinking" indicator shows while the model has said nothing."""
import os
import shutil
import sys

import pytest

from tests.crib.test_chat_tmux import Tmux
from tests.scripted_server import Reply

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")


def slow_model(body: dict) -> Reply:
    return Reply(text="Hello [/i] there, plain text.", delay_s=3.0)


def test_markup_input_bad_save_and_slow_model_keep_the_session(scripted_server, tmp_path):
    scripted_server.script(slow_model)
    env = {"CRIB_DATA_DIR": str(tmp_path / "data"), "OPENAI_BASE_URL": scripted_server.url,
           "CRIB_LLM__MODEL": "scripted", "HOME": str(tmp_path), "PATH": os.environ["PATH"],
           "TERM": "xterm-256color"}
    tmux = Tmux(f"{sys.executable} -m crib chat --domain game24 --memory none", env)
    saved = tmp_path / "chat.md"
    try:
        tmux.wait_for(r"you>")
        # game24 cannot read this input; the error quotes it, as written
        tmux.send("[/bold] 1 2 3", "Enter")
        tmux.wait_for(r"got\s+'\[/bold\] 1 2 3'")  # (Rich may wrap the line)
        tmux.send("/save " + str(tmp_path / "no" / "such" / "dir" / "chat.md"), "Enter")
        tmux.wait_for(r"cannot save to")
        tmux.wait_for(r"No such file or\s+directory")
        tmux.send("/agent broken [/b].py", "Enter")
        tmux.wait_for(r"agent file not found: broken \[/b\]\.py")
        tmux.send("/domain free", "Enter")
        tmux.wait_for(r"domain: free")
        tmux.send("hello", "Enter")
        tmux.wait_for(r"thinking")  # nothing streamed yet: the model is slow, not stuck
        tmux.wait_for(r"Hello \[/i\] there", timeout=120)
        tmux.send("/save " + str(saved), "Enter")
        tmux.wait_for(r"saved \d+ messages")
        tmux.send("/quit", "Enter")
        tmux.wait_for(r"bye")
    finally:
        tmux.close()
    text = saved.read_text()
    assert "[/bold] 1 2 3" in text and "Hello [/i] there" in text
