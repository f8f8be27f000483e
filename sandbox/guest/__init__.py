"""Code that runs outside the host process: the fork-server and the guest bootstrap/runtime.

The modules here use only the standard library and import each other as top-level modules
(`import crib_channel`), because this directory itself is put on `sys.path` inside the sandbox.
The host imports the two it needs (`crib_landlock` for `check()`) as `sandbox.guest.<name>`."""
from pathlib import Path

GUEST_DIR = Path(__file__).resolve().parent
