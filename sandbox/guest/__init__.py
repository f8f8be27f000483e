"""Code that runs outside the host process: the fork-server and the guest bootstrap/runtime.

The modules here use only the standard library and import each other as top-level modules
(`import crib_channel`), because this directory itself is put on `sys.path` inside the sandbox.
The host imports the two it needs (`crib_landlock` for `check()`) as `sandbox.guest.<name>`."""
from pathlib import Path

GUEST_DIR = Path(__file__).resolve().parent
# How to write an agent and what the prelude (`crib_runtime`) holds: the one description, read
# by the meta-agent's prompt (crib.meta_search.prompts) and by people (docs/agent-api.md).
AGENT_API_DOC = GUEST_DIR / "agent_api.md"
