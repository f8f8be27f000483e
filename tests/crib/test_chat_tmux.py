"""`crib chat` driven as a person would: in tmux, typing, reading the screen."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from crib.agents.domains.game24 import solve as solve24
from tests.scripted_server import Reply

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
NUMBERS = re.compile(r"Use the numbers ([\d ]+) to make 24")


def chat_model(body: dict) -> Reply:
    """Wrong first (so the checker's feedback and the retry show), right after feedback."""
    user = [m["content"] for m in body["messages"] if m["role"] == "user"]
    if "You curate a cheatsheet" in str(body["messages"][0].get("content", "")) or not user:
        return Reply(text=CURATOR_REPLY)
    found = NUMBERS.findall("\n".join(user))
    if not found:
        return Reply(text="Hello! Ask me a puzzle.")
    if "checker found a problem" in user[-1]:
        expr = solve24([int(x) for x in found[-1].split()])
        return Reply(text=f"Let me fix that.\n\nAnswer: {expr}", chunk_delay_s=0.01)
    return Reply(text="I think **this** works.\n\nAnswer: 3 + 3 + 8 + 8", chunk_delay_s=0.01)


CURATOR_REPLY = json.dumps({"operations": [{
    "op": "add", "kind": "strategy", "title": "Fractions reach 24",
    "body": "With two equal pairs try a / (b - c / d), e.g. 8 / (3 - 8 / 3)."}]})


class Tmux:
    def __init__(self, command: str, env: dict) -> None:
        self.name = f"crib-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # A server of its own (-L): killing the last session of a shared server ends that
        # server, and a session started right after raced with its exit. The pane stays after
        # the command exits, so its last words ("bye") can still be read.
        self.tmux = ["tmux", "-L", self.name]
        subprocess.run([*self.tmux, "new-session", "-d", "-s", self.name, "-x", "120", "-y", "45",
                        f"env {exports} {command}", ";",
                        "set-option", "-t", self.name, "remain-on-exit", "on"], check=True)

    def send(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-t", self.name, "-S", "-200"],
                              capture_output=True, text=True).stdout

    def wait_for(self, pattern: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            if re.search(pattern, text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} never appeared; screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)
        socket_dir = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        (socket_dir / self.name).unlink(missing_ok=True)  # tmux leaves it behind


def test_chat_streams_checks_retries_and_keeps_commands_working(scripted_server, tmp_path):
    scripted_server.script(chat_model)
    env = {"CRIB_DATA_DIR": str(tmp_path / "data"), "OPENAI_BASE_URL": scripted_server.url,
           "CRIB_LLM__MODEL": "scripted", "HOME": str(tmp_path), "PATH": os.environ["PATH"],
           "TERM": "xterm-256color"}
    transcript = tmp_path / "chat.md"
    tmux = Tmux(f"{sys.executable} -m crib chat --domain game24 --memory none", env)
    try:
        tmux.wait_for(r"you>")
        tmux.send("3 3 8 8", "Enter")
        screen = tmux.wait_for(r"passed", timeout=180)
        assert "failed" in screen  # the first answer was checked and rejected ...
        assert "Let me fix that" in screen  # ... and the retry with feedback fixed it
        tmux.send("/cost", "Enter")
        tmux.wait_for(r"calls 2")
        tmux.send("/save " + str(transcript), "Enter")
        tmux.wait_for(r"saved")
        tmux.send("/quit", "Enter")
        tmux.wait_for(r"bye")
    finally:
        tmux.close()
    assert "3 3 8 8" in transcript.read_text()


def test_memory_persists_from_one_chat_session_to_the_next(scripted_server, tmp_path):
    scripted_server.script(chat_model)
    env = {"CRIB_DATA_DIR": str(tmp_path / "data"), "OPENAI_BASE_URL": scripted_server.url,
           "CRIB_LLM__MODEL": "scripted", "HOME": str(tmp_path), "PATH": os.environ["PATH"],
           "TERM": "xterm-256color"}
    command = f"{sys.executable} -m crib chat --domain game24 --memory dc-cu --scope persist"
    first = Tmux(command, env)
    try:
        first.wait_for(r"you>")
        first.send("3 3 8 8", "Enter")
        first.wait_for(r"passed", timeout=180)
        first.send("/quit", "Enter")
        first.wait_for(r"bye", timeout=180)  # quits once the curation of the answer is stored
    finally:
        first.close()
    second = Tmux(command, env)
    try:
        second.wait_for(r"you>")
        second.send("4 4 10 10", "Enter")
        second.wait_for(r"passed", timeout=180)
        second.send("/memory", "Enter")
        second.wait_for(r"Fractions reach 24")  # learned in the first session, shown in the second
        second.send("/quit", "Enter")
    finally:
        second.close()
    sheet_prompts = [r.body["messages"][0]["content"] for r in scripted_server.chat_requests
                     if "Fractions reach 24" in r.body["messages"][0]["content"]
                     and "You curate" not in r.body["messages"][0]["content"]]
    assert sheet_prompts, "the second session's answer prompt carried the learned entry"
