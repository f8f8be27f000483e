"""`import skills` inside the sandbox: the promoted skills the host sent with the run.

The host puts {function name: code} in the job's request; `install` registers a finder, and
only a run that imports `skills` pays for executing their code. Each skill runs in a namespace
of its own (its helpers cannot clash with another skill's); one whose code fails is left out
and named in `skills.broken`, so a bad skill never breaks a run that does not call it."""
from __future__ import annotations

import builtins
import sys

MODULE = "skills"


class _SkillsFinder:
    def __init__(self, sources: dict) -> None:
        self.sources = sources

    def find_spec(self, name, path=None, target=None):
        if name != MODULE:
            return None
        from importlib.machinery import ModuleSpec

        return ModuleSpec(name, self)

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module) -> None:
        broken = {}
        for name, code in self.sources.items():
            ns = {"__name__": f"{MODULE}.{name}", "__builtins__": builtins}
            try:
                exec(compile(code, f"<skill {name}>", "exec"), ns)
                setattr(module, name, ns[name])
            except Exception as exc:  # noqa: BLE001 - reported, the other skills stay usable
                broken[name] = f"{type(exc).__name__}: {exc}"
        module.broken = broken
        module.__all__ = [n for n in self.sources if n not in broken]


def install(sources: dict) -> None:
    """Make `import skills` / `from skills import NAME` give these skills in this process."""
    if sources and not any(isinstance(f, _SkillsFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _SkillsFinder(dict(sources)))
