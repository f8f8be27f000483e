"""Stage 1 of the cascade: a static check of candidate code before anything runs it.

The sandbox is what enforces safety; this check only rejects code the guest runtime cannot
serve, so the meta-agent gets a precise reason without spending a sandbox run. Rejected:

- code that does not parse, or defines no top-level `forward` function;
- imports of modules the sandbox denies (processes, files, network, native code, interpreter
  internals): see FORBIDDEN_MODULES;
- calls to builtins that escape or that the runtime does not serve: see FORBIDDEN_CALLS
  (`open`, `exec`, `eval`, `compile`, `__import__`, `input`, `breakpoint`, `exit`, `quit`,
  `globals`, `vars`, `memoryview`);
- attribute access to interpreter internals used for sandbox escapes: FORBIDDEN_ATTRIBUTES.

Models write code for `run_python(...)` as strings; those strings are not inspected here, they
run in the snippet tier.
"""
from __future__ import annotations

import ast

from pydantic import BaseModel

FORBIDDEN_MODULES = frozenset({
    "os", "sys", "subprocess", "socket", "shutil", "pathlib", "io", "tempfile", "glob",
    "multiprocessing", "signal", "ctypes", "cffi", "importlib", "builtins", "inspect",
    "pickle", "marshal", "shelve", "dbm", "sqlite3", "http", "urllib", "requests", "httpx",
    "ftplib", "smtplib", "telnetlib", "ssl", "select", "selectors", "asyncio", "pty", "fcntl",
    "resource", "mmap", "gc", "code", "codeop", "runpy", "pdb", "webbrowser", "platform",
    "openai", "langchain", "langchain_core", "langchain_openai", "backoff",
})
FORBIDDEN_CALLS = frozenset({
    "open", "exec", "eval", "compile", "__import__", "input", "breakpoint", "exit", "quit",
    "globals", "vars", "memoryview",
})
FORBIDDEN_ATTRIBUTES = frozenset({
    "__subclasses__", "__globals__", "__builtins__", "__code__", "__closure__", "__mro__",
    "__bases__", "__loader__", "__spec__", "f_globals", "f_locals", "f_back", "gi_frame",
    "system", "popen",
})


class StaticReport(BaseModel):
    ok: bool
    problems: list[str] = []

    @property
    def reason(self) -> str:
        return "; ".join(self.problems)


def static_check(code: str) -> StaticReport:
    """Parse `code` and list every construct the guest runtime cannot serve."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return StaticReport(ok=False, problems=[f"syntax error line {exc.lineno}: {exc.msg}"])
    problems: list[str] = []
    if not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "forward"
               for n in tree.body):
        problems.append("no top-level `def forward(...)`")
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    problems.append(f"line {line}: import of {alias.name} is not allowed")
        elif isinstance(node, ast.ImportFrom):
            root = (node.module or "").split(".")[0]
            if root in FORBIDDEN_MODULES:
                problems.append(f"line {line}: import from {node.module} is not allowed")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in FORBIDDEN_CALLS:
                problems.append(f"line {line}: call to {node.func.id}() is not allowed")
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            problems.append(f"line {line}: access to .{node.attr} is not allowed")
    return StaticReport(ok=not problems, problems=problems)
