"""`crib chat` checks its flags before the session starts: exit 2 and one line."""
import os
import subprocess
import sys


def test_bad_flags_stop_chat_before_it_starts(tmp_path):
    env = dict(os.environ, CRIB_DATA_DIR=str(tmp_path / "data"))
    broken = tmp_path / "broken.py"
    broken.write_text("def forward(self, taskInfo)\n    return 1\n")
    for args, said in ((["--memory", "sometimes"], "--memory must be one of"),
                       (["--domain", "chess"], "unknown domain 'chess'"),
                       (["--agent", str(broken)], "syntax error on line 1")):
        r = subprocess.run([sys.executable, "-m", "crib", "chat", *args], env=env, cwd=tmp_path,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
        assert r.returncode == 2 and said in r.stderr and "Traceback" not in r.stderr, r.stderr
